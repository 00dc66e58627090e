"""How long the `--local` readers take on a month of history: the demo month of
docs/examples/district.yaml (1.18 million points) in a spool, read by `linkwatch report
--local` and by `uptime`, `latency`, `bandwidth` and `outages --local`, each run as a user
runs it (a process of its own). Prints user CPU seconds, wall seconds and peak RSS of each;
asserts nothing.

    python bench/local_history.py                       # seeds the month, then times
    python bench/local_history.py --python /other/venv/bin/python --spool month.db

`--python` times another installation of linkwatch on the same spool (e.g. an older one);
`--spool` reuses a spool seeded before (with `--keep`).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DISTRICT = REPO / "docs" / "examples" / "district.yaml"
PERIOD = ("--since", "2026-10-01", "--until", "2026-11-01")


def _config(workdir: Path, spool: Path) -> Path:
    """The district's config with its spool at `spool` (the agent's own, read with --local)."""
    text = DISTRICT.read_text(encoding="utf-8").replace(
        "path: /var/lib/linkwatch/spool.db", f"path: {spool}")
    path = workdir / "district.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _seed(config: Path) -> None:
    sys.path.insert(0, str(REPO))
    from linkwatch.agent.config import load_config
    from linkwatch.agent.operations.demo import seed_spool
    from linkwatch.agent.query.timerange import Month
    from linkwatch.agent.spool import Spool

    loaded = load_config(config, secrets=False)
    spool = Spool.open(loaded.agent.spool.path, max_size=2**31, history_s=3650 * 86400,
                       outputs=[], check=False)
    try:
        seed_spool(spool, loaded, Month.parse("2026-10", loaded.tz))
    finally:
        spool.close()


def _time(python: str, args: list[str], cwd: Path) -> tuple[float, float, int, int]:
    """User CPU s, wall s, peak RSS (KiB) and exit status of one run."""
    started = time.monotonic()
    process = subprocess.Popen([python, "-m", "linkwatch", *args], cwd=cwd,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               env={**os.environ, "NO_COLOR": "1"})
    _pid, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    return usage.ru_utime, time.monotonic() - started, usage.ru_maxrss, process.returncode


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--python", default=sys.executable,
                        help="the interpreter of the linkwatch to time")
    parser.add_argument("--spool", type=Path, help="a spool seeded before (else seed one)")
    parser.add_argument("--keep", action="store_true", help="keep the seeded spool")
    parser.add_argument("--runs", type=int, default=1)
    options = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="linkwatch-bench-"))
    spool = options.spool or workdir / "month.db"
    config = _config(workdir, spool.absolute())
    if options.spool is None:
        started = time.monotonic()
        _seed(config)
        print(f"seeded {spool} in {time.monotonic() - started:.0f} s")
    commands = {
        "report --local": ["report", "--local", "-c", str(config), "--period", "2026-10",
                           "--lang", "en", "-o", str(workdir / "r.html")],
        **{f"{verb} --local": [verb, "--local", "-c", str(config), *PERIOD,
                               "--format", "json"]
           for verb in ("uptime", "latency", "bandwidth", "outages")},
    }
    print(f"{'command':18} {'user s':>8} {'wall s':>8} {'peak RSS MiB':>13}  exit")
    for name, args in commands.items():
        for _ in range(options.runs):
            user, wall, rss, status = _time(options.python, args, workdir)
            print(f"{name:18} {user:8.1f} {wall:8.1f} {rss / 1024:13.0f}  {status}")
    if options.spool is None and not options.keep:
        for leftover in workdir.iterdir():
            leftover.unlink()
        workdir.rmdir()
    elif options.keep:
        print(f"kept {spool}")


if __name__ == "__main__":
    main()
