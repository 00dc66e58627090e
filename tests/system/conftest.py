"""The whole system: linkwatch installed on booted Debian machines, and a district of agents
in network namespaces. Every module here is marked `system`; run them alone with

    python -m pytest -m system -n 3 --dist loadfile -p no:cacheprovider

(`-n 3 --dist loadfile`: one worker per module, so the district's scripted five minutes,
which mostly wait, run beside the machines' builds and boots). They need root,
mmdebstrap, systemd-nspawn and the tools `.ci/run` installs; the Debian root is built once
(the first module to ask builds it, the others wait on its lock).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.servers.process import unavailable
from tests.system.rootfs import rootfs
from tests.system.wheels import Dist, build, wheelhouse


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


