"""Replay of a 1,000,000-point backlog: the real agent process against curl, same server.

Starts its own influxd 1.6.7 (tests/servers/influxdb.py), fills a spool with 72 hours of a
commune's pings (20 targets every 5 s) through the Spool API, then in one run:

  curl    posts the same line protocol, in files of the same batch size, one after another
          over one keep-alive connection (`curl --data-binary @batch … --next …`), into a
          fresh database: the rate the server accepts.
  agent   `python -m linkwatch agent run -c CONFIG` on that spool (its 20 live ping checks
          running too), into another fresh database; the rate is the points acknowledged
          from the first ack to the empty queue. The agent's RSS (VmRSS, VmHWM from
          /proc/PID/status) is sampled every 50 ms during the replay.

    python bench/replay.py [--points 1036800] [--batch 5000] [--dir /var/tmp]

Prints both rates, their ratio (target ≥ 70%) and the agent's peak RSS (target < 80 MB).
"""

from __future__ import annotations

import argparse
import gzip
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.faults.harness import (  # noqa: E402
    AgentProcess,
    Backlog,
    config_of,
    prefill,
    write_config,
)
from tests.servers.influxdb import start_influxd  # noqa: E402


def batches_to_files(spool_path: Path, batch: int, directory: Path, gz: bool) -> list[Path]:
    """The spool's queued lines, `batch` per file, in queue order."""
    directory.mkdir(parents=True, exist_ok=True)
    files: list[Path] = []
    with sqlite3.connect(f"file:{spool_path}?mode=ro", uri=True) as db:
        rows = db.execute("SELECT p.line FROM queue q JOIN point p ON p.id = q.point_id "
                          "ORDER BY q.point_id")
        while chunk := rows.fetchmany(batch):
            body = b"\n".join(bytes(r[0]) for r in chunk)
            path = directory / f"{len(files):05d}.lp{'.gz' if gz else ''}"
            path.write_bytes(gzip.compress(body, 1) if gz else body)
            files.append(path)
    return files


def curl_rate(url: str, db: str, files: list[Path], points: int, gz: bool) -> float:
    config = files[0].parent / "curl.conf"
    lines = []
    for i, f in enumerate(files):
        if i:
            lines.append("next")
        lines += [f'url = "{url}/write?db={db}&precision=ns"', f'data-binary = "@{f}"',
                  "fail", "silent", 'output = "/dev/null"']
        if gz:
            lines.append('header = "Content-Encoding: gzip"')
    config.write_text("\n".join(lines) + "\n")
    started = time.perf_counter()
    subprocess.run(["curl", "-K", str(config)], check=True)
    return points / (time.perf_counter() - started)


def rss_kib(pid: int) -> tuple[int, int]:
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                fields[key] = int(value.split()[0])
    return fields.get("VmRSS", 0), fields.get("VmHWM", 0)


def sent_total(spool_path: Path) -> int:
    # the small output table only: counting the queue itself would load the machine
    with sqlite3.connect(f"file:{spool_path}?mode=ro", uri=True, timeout=10) as db:
        return db.execute("SELECT coalesce(sum(sent_total), 0) FROM output").fetchone()[0]


def agent_rate(root: Path, url: str, db: str, spool_path: Path,
               pings: int) -> tuple[float, int, int, str]:
    """Points/s from the first ack to the agent's "backlog replayed" line, and peak RSS."""
    config_path = write_config(root, url=url, db=db, max_size="1GiB", spool=str(spool_path),
                               pings=pings)
    agent = AgentProcess(config_path).start()
    pid = agent.process.pid
    peak_rss = peak_hwm = 0
    first = None
    replayed: list[str] = []
    try:
        tick = 0
        while not replayed:
            rss, hwm = rss_kib(pid)
            peak_rss, peak_hwm = max(peak_rss, rss), max(peak_hwm, hwm)
            tick += 1
            if tick % 4 == 0:
                if first is None and (sent := sent_total(spool_path)) > 0:
                    first = (time.perf_counter(), sent)
                replayed = [ln for ln in agent.log().splitlines() if "backlog replayed" in ln]
            if not agent.alive:
                raise SystemExit(f"agent exited: {agent.log()[-2000:]}")
            time.sleep(0.025)
        done = time.perf_counter()
        rate = (sent_total(spool_path) - first[1]) / (done - first[0])
    finally:
        agent.stop()
    return rate, peak_rss, peak_hwm, replayed[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=20 * 72 * 720)
    parser.add_argument("--batch", type=int, default=5000)
    parser.add_argument("--dir", type=Path, default=None)
    parser.add_argument("--pings", type=int, default=20,
                        help="live ping checks the agent runs during the replay")
    args = parser.parse_args()
    if shutil.which("curl") is None:
        raise SystemExit("curl not found (apt-get install curl)")
    root = Path(tempfile.mkdtemp(prefix="linkwatch-replay-", dir=args.dir))
    server = start_influxd(root / "influxd")
    try:
        for db in ("curl", "curl_gzip", "agent"):
            server.create_database(db)
        spool_path = root / "spool.db"
        fill_config = config_of(write_config(root, url=server.url, db="agent",
                                             max_size="1GiB", spool=str(spool_path)))
        t = time.perf_counter()
        prefill(fill_config, Backlog(points=args.points))
        print(f"spool filled with {args.points} points in {time.perf_counter() - t:.1f}s "
              f"({spool_path.stat().st_size / 2**20:.0f} MiB)")
        plain = batches_to_files(spool_path, args.batch, root / "plain", gz=False)
        packed = batches_to_files(spool_path, args.batch, root / "gzip", gz=True)
        curl = curl_rate(server.url, "curl", plain, args.points, gz=False)
        curl_gz = curl_rate(server.url, "curl_gzip", packed, args.points, gz=True)
        agent, rss, hwm, replayed = agent_rate(root, server.url, "agent", spool_path,
                                               args.pings)
        print(f"backlog: {args.points} points, batches of {args.batch}, influxd 1.6.7")
        print(f"curl --data-binary (plain):     {curl:>10,.0f} points/s")
        print(f"curl --data-binary (gzip -1):   {curl_gz:>10,.0f} points/s")
        print(f"linkwatch agent replay (gzip):  {agent:>10,.0f} points/s   "
              f"= {agent / curl:.0%} of curl plain, {agent / curl_gz:.0%} of curl gzip")
        print(f"agent RSS during replay: peak VmRSS {rss / 1024:.1f} MB, "
              f"VmHWM {hwm / 1024:.1f} MB (target < 80 MB)")
        print(f"agent log: {replayed.strip()}")
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
