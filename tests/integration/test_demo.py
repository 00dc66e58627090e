"""`linkwatch demo seed`: a month to read before the agent has run one, that never mixes with
real data. Each command runs as a user would type it, in a process of its own; the month is
small (a few checks polled every 10 minutes) so it is written in seconds."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import pty
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from linkwatch.agent.query.timerange import Month

REPO = Path(__file__).resolve().parents[2]
TZ = dt.timezone(dt.timedelta(hours=7))

# The district's agent section (its spool in /var/lib/linkwatch, as shipped), few checks.
SMALL = """\
agent:
  name: vandon-district
  site: district-lan
  timezone: Asia/Ho_Chi_Minh
  spool: {{path: {spool}, max_size: {max_size}, history: {history}}}
sites:
  - {{name: district-lan, capacity: {{down: 100Mbps, up: 100Mbps}}}}
  - {{name: dong-xa, parent: district-lan, capacity: {{down: 16Mbps, up: 6Mbps}}}}
checks:
  ping:
    - {{name: district-core, address: 192.0.2.1, interval: 10m, count: 5}}
    - {{name: dong-xa-router, address: 198.51.100.2, interval: 10m, count: 5, site: dong-xa}}
  snmp:
    - {{name: dong-xa-router, address: 198.51.100.2, site: dong-xa, uplink: wan,
       interval: 10m}}
"""


@pytest.fixture
def home() -> Iterator[Path]:
    """A home directory `nobody` may write, and a config there."""
    path = Path(tempfile.mkdtemp(prefix="linkwatch-demo-"))
    path.chmod(0o777)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _config(home: Path, *, spool: str = "/var/lib/linkwatch/spool.db",
            max_size: str = "256MiB", history: str = "90d") -> Path:
    path = home / "district.yaml"
    path.write_text(SMALL.format(spool=spool, max_size=max_size, history=history))
    path.chmod(0o644)
    return path


def _linkwatch(home: Path, *args: str, user: bool = False, **kwargs
               ) -> subprocess.CompletedProcess:
    prefix = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"] if user else []
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home),
           "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run([*prefix, sys.executable, "-m", "linkwatch", *args],
                          stdout=subprocess.PIPE, stderr=kwargs.pop("stderr", subprocess.PIPE),
                          text=True, timeout=300, check=False, cwd=home, env=env, **kwargs)


def test_a_normal_user_seeds_the_demo_in_its_own_spool_and_reads_it_with_demo(home):
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("running as another user needs root and util-linux's setpriv")
    config = _config(home)
    done = _linkwatch(home, "demo", "seed", "-c", str(config), "--local", "--month",
                      "2026-10", user=True)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    demo = next((home / ".cache" / "linkwatch" / "demo").glob("district-*.db"))
    assert f"to {demo}" in done.stdout
    assert "--demo" in done.stdout                      # how to read it
    assert not Path("/var/lib/linkwatch/spool.db").exists() or \
        Path("/var/lib/linkwatch/spool.db").stat().st_mtime < time.time() - 300
    uptime = _linkwatch(home, "uptime", "--demo", "--local", "-c", str(config), "--since",
                        "2026-10-01", "--until", "2026-11-01", "--format", "json", user=True)
    assert uptime.returncode == 0, uptime.stderr
    rows = {r["target"]: r for r in json.loads(uptime.stdout) if r["target"]}
    assert set(rows) == {"district-core", "dong-xa-router"}
    # the planted week-long fibre cut of dong-xa, 6-13 October
    assert rows["dong-xa-router"]["downtime_s"] == pytest.approx(7 * 86400, rel=0.02)
    # without --demo the agent's own (absent) spool is asked, not the demo
    real = _linkwatch(home, "uptime", "--local", "-c", str(config), user=True)
    assert real.returncode == 1 and "no spool at /var/lib/linkwatch/spool.db" in real.stderr


def test_the_default_month_is_last_month_and_the_demo_spool_keeps_it(home):
    config = _config(home, spool=str(home / "spool.db"), history="1d")
    done = _linkwatch(home, "demo", "seed", "-c", str(config), "--local")
    assert done.returncode == 0, done.stderr
    last = Month.last_complete(TZ, time.time_ns())
    assert f"samples for {last} to" in done.stdout
    assert not (home / "spool.db").exists()
    report = _linkwatch(home, "report", "--demo", "--local", "-c", str(config), "--period",
                        str(last), "--lang", "en", "-o", str(home / "demo.html"))
    assert report.returncode == 0, report.stderr
    assert "dong-xa" in (home / "demo.html").read_text(encoding="utf-8")


def test_real_is_refused_when_the_spool_would_not_keep_the_month(home):
    config = _config(home, spool=str(home / "spool.db"), history="30d")
    done = _linkwatch(home, "demo", "seed", "-c", str(config), "--local", "--real",
                      "--month", "2026-01")
    assert done.returncode == 2
    assert "keeps 30 days of history" in done.stderr and "leave out --real" in done.stderr
    assert not (home / "spool.db").exists()
    small = _config(home, spool=str(home / "spool.db"), history="3650d", max_size="1MiB")
    done = _linkwatch(home, "demo", "seed", "-c", str(small), "--local", "--real", "--month",
                      str(Month.last_complete(TZ, time.time_ns())))
    assert done.returncode == 2 and "more than the spool holds" in done.stderr
    assert "disk" not in done.stderr


def test_real_writes_the_configs_own_spool_when_it_keeps_the_month(home):
    config = _config(home, spool=str(home / "spool.db"), history="3650d")
    done = _linkwatch(home, "demo", "seed", "-c", str(config), "--local", "--real",
                      "--month", "2026-10")
    assert done.returncode == 0, done.stderr
    assert f"to {home / 'spool.db'}" in done.stdout
    uptime = _linkwatch(home, "uptime", "--local", "-c", str(config), "--since",
                        "2026-10-01", "--until", "2026-11-01", "--format", "json")
    assert uptime.returncode == 0, uptime.stderr


def test_seeding_shows_progress_on_a_terminal_and_none_in_a_pipe(home):
    config = _config(home, spool=str(home / "spool.db"))
    piped = _linkwatch(home, "demo", "seed", "-c", str(config), "--local", "--month",
                       "2026-10")
    assert piped.returncode == 0 and "%" not in piped.stderr
    with terminal_stderr() as (terminal, shown):
        done = _linkwatch(home, "demo", "seed", "-c", str(config), "--local", "--month",
                          "2026-10", stderr=terminal)
    assert done.returncode == 0
    assert "writing 2026-10: 100%" in "".join(shown)
    # reading a month of the local history shows how far it has come, then clears the line
    for verb in ("uptime", "latency", "report"):
        extra = ("--period", "2026-10", "-o", str(home / "r.html")) if verb == "report" \
            else ("--since", "2026-10-01", "--until", "2026-11-01")
        with terminal_stderr() as (terminal, shown):
            done = _linkwatch(home, verb, "--demo", "--local", "-c", str(config), *extra,
                              stderr=terminal)
        assert done.returncode == 0, verb
        assert "reading ping: 100%" in "".join(shown), verb
        assert "reading ping" not in done.stdout


@contextlib.contextmanager
def terminal_stderr() -> Iterator[tuple[int, list[str]]]:
    """A pseudo-terminal for a command's stderr, and what was written to it (read as it
    comes, so a chatty command never blocks on a full buffer)."""
    controller, terminal = pty.openpty()
    shown: list[str] = []

    def drain() -> None:
        while True:
            try:
                data = os.read(controller, 65536)
            except OSError:          # EIO: the terminal's end is closed and drained
                return
            if not data:
                return
            shown.append(data.decode(errors="replace"))

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        yield terminal, shown
    finally:
        os.close(terminal)
        reader.join(timeout=30)
        os.close(controller)
