"""A minimal Debian 12 root file system, built once with mmdebstrap and kept under /var/tmp.

The root holds what a fresh district server would: systemd, Python with venv, ping and
iproute2, sudo, and the Debian packages `.ci/run` installs (read from `.ci/run` itself, so
the README's second command finds them installed: the containers have no network). It is
built into a directory named after its package list, so a second run of the suite on the
same machine, or a second test process, finds it ready; a lock keeps two builds from
racing. Tests never change it: each boots an overlay of it (tests/system/machine.py).
"""

from __future__ import annotations

import fcntl
import hashlib
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from tests.servers.process import require

REPO = Path(__file__).resolve().parents[2]
SUITE = "bookworm"
CACHE = Path("/var/tmp/linkwatch-rootfs")
BASE_PACKAGES = ("systemd", "systemd-sysv", "dbus", "python3", "python3-venv", "iputils-ping",
                 "iproute2", "procps", "ca-certificates", "sudo")
# Units the Debian packages enable that a booted root must not start: the tests start
# their own servers, and a second influxd would only take CPU from them.
MASKED = ("influxdb.service", "victoria-metrics.service", "snmpd.service",
          "snmptrapd.service", "prometheus-alertmanager.service", "gammu-smsd.service",
          "e2scrub_all.timer", "e2scrub_reap.service", "fstrim.timer",
          "apt-daily.timer", "apt-daily-upgrade.timer", "man-db.timer", "dpkg-db-backup.timer")
# Bumped when the build steps below change, so an old root is not reused.
RECIPE = "2"


def ci_packages(script: Path = REPO / ".ci" / "run") -> tuple[str, ...]:
    """The Debian packages `.ci/run` installs (its `packages=(…)` array)."""
    found = re.search(r"^packages=\((.*?)\)", script.read_text(), re.M | re.S)
    if found is None:
        raise AssertionError(f"{script}: no packages=(…) array to read the package list from")
    return tuple(found.group(1).split())


def packages() -> tuple[str, ...]:
    return tuple(sorted({*BASE_PACKAGES, *ci_packages()}))


def key(names: tuple[str, ...]) -> str:
    text = "\n".join([RECIPE, SUITE, *names])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def rootfs(*, log: Path | None = None) -> Path:
    """The root directory for the current package list, built if it is not there yet."""
    require("mmdebstrap", "the Debian package mmdebstrap")
    names = packages()
    CACHE.mkdir(parents=True, exist_ok=True)
    place = CACHE / key(names)
    done = place / "complete"
    with (CACHE / f"{place.name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a concurrent build finishes before we look
        if not done.exists():
            _build(place, names, log or CACHE / f"{place.name}.log")
    return place / "root"


def _build(place: Path, names: tuple[str, ...], log: Path) -> None:
    shutil.rmtree(place, ignore_errors=True)
    scratch = Path(tempfile.mkdtemp(prefix=f"{place.name}.", dir=CACHE))
    root = scratch / "root"
    started = time.monotonic()
    with log.open("w") as out:
        # Package lists are kept (apt-get can then tell what is installed without a
        # network, as the README's `apt-get install -y python3-venv` asks it to).
        built = subprocess.run(
            ["mmdebstrap", "--variant=minbase", "--skip=cleanup/apt/lists",
             f"--include={','.join(names)}", SUITE, str(root)],
            stdout=out, stderr=subprocess.STDOUT, check=False)
    if built.returncode != 0:
        shutil.rmtree(scratch, ignore_errors=True)
        tail = " | ".join(log.read_text(errors="replace").splitlines()[-15:])
        raise AssertionError(f"mmdebstrap failed ({built.returncode}); {log}: {tail}")
    subprocess.run(["systemctl", f"--root={root}", "mask", *MASKED], capture_output=True,
                   check=True)
    (scratch / "packages").write_text("\n".join(names) + "\n")
    (scratch / "complete").write_text(f"built in {time.monotonic() - started:.0f}s\n")
    scratch.rename(place)


if __name__ == "__main__":  # `.ci/run` builds it in the background while other tests run
    print(rootfs())
