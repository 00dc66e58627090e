"""The sdist and the wheel a release ships: every module of agent/ and collector/ inside,
under the linkwatch name, with its data and the files `agent install` reads.

setup.cfg lists its packages one by one, so a new folder left out of it would install
without its modules, and only a user would notice. The wheel here is built from the sdist,
as pip builds it from a release tarball.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from tests.system.wheels import Dist, build, copy_source

REPO = Path(__file__).resolve().parents[2]
FOLDERS = {"agent": "linkwatch/agent", "collector": "linkwatch/collector"}
SHIPPED = ("config.yaml", "systemd/linkwatch-agent.service",
           "systemd/linkwatch-report.service", "systemd/linkwatch-report.timer")


def modules() -> set[str]:
    """Every module of agent/ and collector/ and the data they read (probe READMEs, metrics
    tables, shipped device profiles), as installed paths."""
    found = set()
    for folder, installed in FOLDERS.items():
        for path in (REPO / folder).rglob("*"):
            if "__pycache__" in path.parts or path.suffix not in (".py", ".md", ".csv", ".yaml"):
                continue
            found.add(f"{installed}/{path.relative_to(REPO / folder).as_posix()}")
    return found


def missing_from_wheel(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as zf:
        return modules() - set(zf.namelist())


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> Dist:
    return build(tmp_path_factory.mktemp("dist"))


def test_the_wheel_holds_every_module_under_the_linkwatch_name(dist: Dist) -> None:
    assert not missing_from_wheel(dist.wheel)
    with zipfile.ZipFile(dist.wheel) as zf:
        names = zf.namelist()
    tops = {name.split("/")[0] for name in names}
    assert tops == {"linkwatch", f"linkwatch-{dist.version}.dist-info",
                    f"linkwatch-{dist.version}.data"}  # no top-level agent or collector
    data = f"linkwatch-{dist.version}.data/data/share/linkwatch"
    assert {f"{data}/{name}" for name in SHIPPED} <= set(names)
    entry = zipfile.ZipFile(dist.wheel).read(
        f"linkwatch-{dist.version}.dist-info/entry_points.txt").decode()
    assert "linkwatch = linkwatch.agent.cli:main" in entry


def test_the_sdist_holds_the_sources_and_the_shipped_files(dist: Dist) -> None:
    with tarfile.open(dist.sdist) as tar:
        names = {name.split("/", 1)[1] for name in tar.getnames() if "/" in name}
    sources = {f"{folder}/{p}" for folder, installed in FOLDERS.items()
               for p in (m.removeprefix(installed + "/") for m in modules()
                         if m.startswith(installed + "/"))}
    assert not sources - names
    assert set(SHIPPED) <= names and {"setup.cfg", "pyproject.toml", "README.md"} <= names


def test_every_package_folder_is_listed_in_setup_cfg() -> None:
    block = re.search(r"^packages =\n((?:[ \t]+\S+\n)+)", (REPO / "setup.cfg").read_text(),
                      re.M)
    assert block, "setup.cfg: no `packages =` list"
    listed = set(block.group(1).split())
    folders = {"linkwatch"} | {
        ".".join(["linkwatch", folder, *init.parent.relative_to(REPO / folder).parts])
        for folder in FOLDERS for init in (REPO / folder).rglob("__init__.py")
        if "__pycache__" not in init.parts}
    assert folders == listed, f"setup.cfg packages: add {folders - listed}, drop {listed - folders}"


def test_a_package_left_out_of_setup_cfg_is_caught(tmp_path: Path) -> None:
    """The check above can fail: a wheel built without linkwatch.agent.query misses it."""
    tree = copy_source(tmp_path / "tree")
    setup = tree / "setup.cfg"
    setup.write_text(setup.read_text().replace("    linkwatch.agent.query\n", ""))
    built = subprocess.run([sys.executable, "-m", "build", "--wheel", "--outdir",
                            str(tmp_path / "out"), str(tree)],
                           capture_output=True, text=True, check=False)
    assert built.returncode == 0, built.stderr
    missing = missing_from_wheel(next((tmp_path / "out").glob("*.whl")))
    assert missing and all(m.startswith("linkwatch/agent/query/") for m in missing)
    assert "linkwatch/agent/query/backend.py" in missing
