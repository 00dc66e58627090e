"""The whole system: linkwatch installed on booted Debian machines, and a district of agents
in network namespaces. Every test here is marked `system`; run them alone with

    python -m pytest -m system -n 2 -p no:cacheprovider

(`-n 2`: the district on one worker while the other builds the root file system and boots
the machines). They need root, mmdebstrap, systemd-nspawn and the tools of `.ci/run`.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.servers.process import unavailable
from tests.system.rootfs import rootfs
from tests.system.wheels import Dist, build, wheelhouse

HERE = Path(__file__).parent
SUMMARY = "system-summary"   # a user property: text for the session's summary


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(item.fspath).parents:
            item.add_marker(pytest.mark.system)


@pytest.fixture(scope="session")
def as_root() -> None:
    if os.geteuid() != 0:
        unavailable("system tests mount overlays, boot containers and create namespaces: "
                    "run them as root")


@pytest.fixture(scope="session")
def base_root(as_root, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The cached Debian root (built on first use; see tests/system/rootfs.py)."""
    return rootfs(log=tmp_path_factory.mktemp("rootfs") / "mmdebstrap.log")


@pytest.fixture(scope="session")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Dist:
    """This checkout as an sdist and a wheel."""
    return build(tmp_path_factory.mktemp("dist"))


@pytest.fixture(scope="session")
def wheels(dist: Dist) -> Path:
    """The wheelhouse of linkwatch's requirements (see tests/system/wheels.py)."""
    return wheelhouse(dist)


def pytest_terminal_summary(terminalreporter) -> None:
    """The tables the system tests recorded (ground truth beside linkwatch's answers, each
    agent's CPU and memory): printed at the end, also when run with `-n 2` (a user
    property travels from the worker to the session that prints)."""
    texts = [value for reports in terminalreporter.stats.values() for report in reports
             if getattr(report, "when", None) == "call"
             for key, value in getattr(report, "user_properties", ()) if key == SUMMARY]
    if texts:
        terminalreporter.section("system: what happened and what linkwatch said")
        for text in texts:
            terminalreporter.write(text + "\n")
