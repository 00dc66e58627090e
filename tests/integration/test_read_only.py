"""The commands that only look (`status --local`, `uptime --local`, `spool status`) work for a
user who may read the spool but not write it, the IT staff's case, and change nothing: not
the file, not its directory, not its history. Each runs as `nobody` through setpriv."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from linkwatch.agent.spool import Spool
from linkwatch.collector.sample import Sample

MIN = 60 * 10**9


def _as_nobody(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
         sys.executable, "-m", "linkwatch", *args],
        capture_output=True, text=True, timeout=120, check=False, cwd="/",
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8",
             "PYTHONDONTWRITEBYTECODE": "1"})


def _state(directory: Path) -> dict[str, str]:
    """Every file in `directory` with a digest of its bytes and its mode."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() + oct(p.stat().st_mode)
            for p in sorted(directory.iterdir())}


@pytest.fixture
def spool_dir() -> Iterator[Path]:
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("running a command as another user needs root and util-linux's setpriv")
    # not pytest's tmp_path: /tmp/pytest-of-root is closed to other users
    root = Path(tempfile.mkdtemp(prefix="linkwatch-ro-"))
    root.chmod(0o755)
    yield root
    shutil.rmtree(root, ignore_errors=True)


def _config(root: Path, history: str = "30d") -> Path:
    path = root / "config.yaml"
    path.write_text(
        f"agent: {{name: ro, site: lab, spool: {{path: spool.db, history: {history}}}}}\n"
        "outputs: [{type: influxdb, url: 'http://127.0.0.1:9', database: ro}]\n"
        "sites: [{name: lab}]\n"
        "checks:\n  ping:\n    - {name: gw, address: 127.0.0.1, interval: 60s}\n")
    path.chmod(0o644)
    return path


def _fill(root: Path, *, history_s: float) -> Spool:
    """A spool with an hour of `gw` (and a week-old point past a 1-day history)."""
    now = time.time_ns() // MIN * MIN
    spool = Spool.open(root / "spool.db", max_size=2**24, history_s=history_s,
                       outputs=["ro"])
    samples = [Sample("ping", {"agent": "ro", "site": "lab", "target": "gw"},
                      {"sent": 5, "received": 5, "loss_pct": 0.0, "rtt_avg_ms": 0.1, "up": 1},
                      now - ago * MIN) for ago in range(60, 0, -1)]
    spool.append([Sample("ping", {"agent": "ro", "site": "lab", "target": "gw"},
                         {"sent": 5, "received": 0, "loss_pct": 100.0, "up": 0},
                         now - 7 * 1440 * MIN), *samples])
    spool.ack("ro", list(range(1, 30)))
    return spool


READERS = (
    ("status", "--local", "--format", "json"),
    ("uptime", "--local", "--since", "30d", "--format", "json"),
    ("spool", "status", "--format", "json"),
)


@pytest.mark.parametrize("args", READERS, ids=lambda a: " ".join(a[:2]))
def test_a_reader_who_may_not_write_gets_answers_and_changes_nothing(spool_dir, args):
    config = _config(spool_dir, history="1d")
    _fill(spool_dir, history_s=30 * 86400).close()    # stopped agent: no -wal, no -shm
    for p in spool_dir.iterdir():
        p.chmod(0o644)
    before = _state(spool_dir)
    done = _as_nobody(*args, "-c", str(config))
    assert done.returncode == 0, done.stderr
    assert "readonly" not in done.stderr and "Traceback" not in done.stderr
    assert json.loads(done.stdout), done.stdout
    # the week-old point is past `history: 1d`, but pruning is the agent's job
    assert _state(spool_dir) == before


@pytest.mark.parametrize("args", READERS, ids=lambda a: " ".join(a[:2]))
def test_a_reader_shares_the_spool_of_a_running_agent(spool_dir, args):
    config = _config(spool_dir)
    writer = _fill(spool_dir, history_s=30 * 86400)    # stays open: -wal and -shm exist
    try:
        for p in spool_dir.iterdir():
            p.chmod(0o644)
        assert (spool_dir / "spool.db-wal").exists()
        done = _as_nobody(*args, "-c", str(config))
        assert done.returncode == 0, done.stderr
        rows = json.loads(done.stdout)
        assert rows, done.stdout
    finally:
        writer.close()


def test_spool_status_without_a_spool_says_so_and_creates_none(spool_dir):
    config = _config(spool_dir)
    before = _state(spool_dir)
    done = _as_nobody("spool", "status", "-c", str(config))
    assert done.returncode == 1
    assert f"no spool at {spool_dir / 'spool.db'}" in done.stderr
    assert _state(spool_dir) == before
    # root, who could create it, does not either
    done = subprocess.run([sys.executable, "-m", "linkwatch", "spool", "status", "-c",
                           str(config)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stderr
    assert _state(spool_dir) == before


def test_a_user_who_may_not_read_the_spool_is_told_so(spool_dir):
    config = _config(spool_dir)
    _fill(spool_dir, history_s=30 * 86400).close()
    (spool_dir / "spool.db").chmod(0o600)
    done = _as_nobody("status", "--local", "-c", str(config))
    assert done.returncode == 1
    assert "may not read the spool" in done.stderr and "Traceback" not in done.stderr
