"""What a machine without a network installs from: linkwatch's sdist and wheel built from
this checkout, and a wheelhouse of everything they depend on.

Inside a machine, pip is pointed at them by /etc/pip.conf (`pip_conf`), so `pip install .`,
`pip install linkwatch-….whl` and `linkwatch agent install --source …` run exactly as on a
connected machine, with no traffic leaving this one. The wheelhouse depends only on
setup.cfg's requirements and is kept under /var/tmp between runs.
"""

from __future__ import annotations

import configparser
import hashlib
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
WHEELHOUSE_CACHE = Path("/var/tmp/linkwatch-wheelhouse")
EXTRAS = ("report", "path", "test")
# pip and the build backend: `.ci/run` upgrades pip, `pip install .` builds in isolation.
TOOLS = ("pip", "setuptools>=61", "wheel")
_NOT_SOURCE = (".git", ".venv", "venv", "var", "build", "dist", "*.egg-info", "__pycache__",
               ".pytest_cache", ".ruff_cache", "*.db", "*.db-wal", "*.db-shm")


@dataclass(frozen=True)
class Dist:
    """One version of linkwatch as a release ships it."""

    version: str
    sdist: Path
    wheel: Path


def copy_source(target: Path) -> Path:
    """This checkout without its caches, virtual environments and build output."""
    shutil.copytree(REPO, target, ignore=shutil.ignore_patterns(*_NOT_SOURCE), symlinks=True)
    return target


def build(out: Path, *, version: str | None = None) -> Dist:
    """`python -m build` of a copy of this checkout (the wheel is built from the sdist, as
    a user's pip would build it); with `version`, setup.cfg's version is changed first."""
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="linkwatch-dist-") as scratch:
        tree = copy_source(Path(scratch) / "linkwatch")
        setup = tree / "setup.cfg"
        if version is not None:
            text, n = re.subn(r"^version = .*$", f"version = {version}", setup.read_text(),
                              count=1, flags=re.M)
            assert n == 1, "setup.cfg has no `version =` line"
            setup.write_text(text)
        version = _version(setup)
        built = subprocess.run([sys.executable, "-m", "build", "--outdir", str(out), str(tree)],
                               capture_output=True, text=True, check=False)
        assert built.returncode == 0, f"python -m build failed:\n{built.stdout}\n{built.stderr}"
    return Dist(version, out / f"linkwatch-{version}.tar.gz",
                out / f"linkwatch-{version}-py3-none-any.whl")


def wheelhouse(dist: Dist) -> Path:
    """Wheels of every requirement of linkwatch and its extras, and of pip's build tools."""
    setup = configparser.ConfigParser()
    setup.read(REPO / "setup.cfg")
    wanted = "\n".join([sys.version, *TOOLS, setup["options"]["install_requires"],
                        *(setup["options.extras_require"][e] for e in EXTRAS)])
    place = WHEELHOUSE_CACHE / hashlib.sha256(wanted.encode()).hexdigest()[:16]
    if (place / "complete").exists():
        return place
    scratch = Path(tempfile.mkdtemp(prefix="building.", dir=_mkdir(WHEELHOUSE_CACHE)))
    scratch.chmod(0o755)  # a machine's users install from it too
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--wheel-dir", str(scratch),
         f"{dist.wheel}[{','.join(EXTRAS)}]", *TOOLS],
        capture_output=True, text=True, check=False)
    assert done.returncode == 0, f"pip wheel failed:\n{done.stdout}\n{done.stderr}"
    for own in scratch.glob("linkwatch-*"):  # linkwatch itself comes from `dist`
        own.unlink()
    (scratch / "complete").write_text("")
    try:
        scratch.rename(place)
    except OSError:  # another test process finished the same wheelhouse first
        shutil.rmtree(scratch, ignore_errors=True)
    return place


def pip_conf(*find_links: str) -> str:
    """/etc/pip.conf of a machine: no index, only these directories (for every user, and
    through sudo, which resets the environment)."""
    return ("[global]\nno-index = true\n"
            f"find-links = {' '.join(find_links)}\n"
            "disable-pip-version-check = true\nroot-user-action = ignore\n")


def _version(setup: Path) -> str:
    parsed = configparser.ConfigParser()
    parsed.read(setup)
    return parsed["metadata"]["version"]


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path
