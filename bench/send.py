"""How fast the shipper drains a full spool into InfluxDB 1.x, next to curl doing the same.

    python bench/send.py [--points 200000] [--batch 5000] [--rounds 2]

Starts its own influxd (Debian influxdb 1.6.7) on a free loopback port in a temporary
directory, fills a spool with realistic ping/host/interface points, then measures in one run:

  a) linkwatch: the shipper draining the spool (read batch, gzip, POST /write, ack)
  b) curl: `curl --data-binary @batch.lp.gz` per batch of the same lines, gzipped at the
     same level beforehand, into a fresh database

in alternating order over a few rounds, and prints points/s of both (best run) and their
ratio. Every database is counted afterwards, so a fast but lossy run cannot pass.
Target: linkwatch ≥ 50% of curl.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from linkwatch.agent.config.schema import InfluxOutput
from linkwatch.agent.datamodel.lineprotocol import encode
from linkwatch.agent.outputs import Pacing, ship
from linkwatch.agent.outputs.influx_v1 import GZIP_LEVEL
from linkwatch.agent.spool import Spool
from linkwatch.collector.sample import Sample
from tests.servers.influxdb import InfluxServer, start_influxd


def samples(count: int) -> list[Sample]:
    """A district's worth of points, one minute apart per series, ending now."""
    base = {"agent": "district-agent", "site": "district-lan"}
    cycle: list[tuple[str, dict, dict]] = []
    for t in range(40):
        tags = {**base, "target": f"commune-{t:02d}", "address": f"10.20.{t}.1"}
        cycle.append(("ping", tags, {"sent": 5, "received": 5, "loss_pct": 0.0,
                                     "rtt_min_ms": 31.2, "rtt_avg_ms": 38.95,
                                     "rtt_max_ms": 52.1, "rtt_mdev_ms": 6.2,
                                     "jitter_ms": 4.7, "up": 1}))
    for d in range(4):
        for i in range(1, 25):
            tags = {**base, "device": f"sw-dept-{d}", "if_index": str(i),
                    "if_name": f"GigabitEthernet0/{i}", "if_alias": f"Dept {d} port {i}"}
            cycle.append(("interface", tags, {
                "in_octets": 18_446_744_073 + i * 7919, "out_octets": 9_223_372_036 + i,
                "in_bps": 2_345_678.25, "out_bps": 812_345.5, "in_util_pct": 2.35,
                "out_util_pct": 0.81, "speed_bps": 100_000_000, "oper_status": 1,
                "admin_status": 1, "in_errors": 0, "out_errors": 0, "in_discards": 3,
                "out_discards": 0}))
    cycle.append(("host", dict(base), {"cpu_pct": 7.5, "mem_used_pct": 41.2,
                                      "disk_used_pct": 63.0, "load1": 0.42,
                                      "uptime_s": 864_000.0}))
    for nic in ("eth0", "eth1"):
        cycle.append(("host_net", {**base, "nic": nic}, {
            "rx_bytes": 123_456_789_012, "tx_bytes": 98_765_432_109,
            "rx_bps": 1_234_567.5, "tx_bps": 765_432.25}))
    cycles = -(-count // len(cycle))
    start = time.time_ns() - cycles * 60_000_000_000
    out = []
    for n in range(cycles):
        when = start + n * 60_000_000_000
        for measurement, tags, fields in cycle:
            out.append(Sample(measurement, tags, fields, when))
    return out[:count]


def count_points(server: InfluxServer, db: str) -> int:
    # One field every point of each measurement carries.
    total = 0
    for measurement, field in (("ping", "up"), ("interface", "in_octets"),
                               ("host", "cpu_pct"), ("host_net", "rx_bytes")):
        results = server.query(f'SELECT count("{field}") FROM "{measurement}"', db=db)
        for series in results[0].get("series", []):
            total += series["values"][0][1]
    return total


def run_linkwatch(server: InfluxServer, db: str, points: list[Sample], batch: int,
                  workdir: Path) -> float:
    output = InfluxOutput(type="influxdb", url=server.url, name="bench", version="1",
                          database=db, batch_size=batch, gzip=True)
    spool = Spool.open(workdir / f"{db}.spool", max_size=2**30, history_s=86400,
                       outputs=[output.queue_name])
    for i in range(0, len(points), 5000):
        spool.append(points[i:i + 5000])
    queued = spool.stats().outputs[0].queued
    assert queued == len(points), f"spool holds {queued} of {len(points)} points"

    async def drain() -> float:
        stop = asyncio.Event()
        started = time.perf_counter()
        task = asyncio.create_task(ship(spool, output, stop=stop, pacing=Pacing(idle_poll=0.01)))
        while spool.stats().outputs[0].queued:
            if task.done():
                task.result()
                raise RuntimeError("the shipper ended before the queue was empty")
            await asyncio.sleep(0.005)
        elapsed = time.perf_counter() - started
        stop.set()
        await task
        return elapsed

    elapsed = asyncio.run(drain())
    spool.close()
    return elapsed


def curl_files(points: list[Sample], batch: int, workdir: Path) -> list[Path]:
    lines = [encode(s) for s in points]
    files = []
    for n, i in enumerate(range(0, len(lines), batch)):
        path = workdir / f"batch-{n:04d}.lp.gz"
        path.write_bytes(gzip.compress(b"\n".join(lines[i:i + batch]), GZIP_LEVEL))
        files.append(path)
    return files


def run_curl(server: InfluxServer, db: str, files: list[Path]) -> float:
    url = f"{server.url}/write?db={db}&precision=ns"
    started = time.perf_counter()
    for path in files:
        subprocess.run(
            ["curl", "-sS", "--fail", "-o", "/dev/null", "-XPOST", url,
             "-H", "Content-Encoding: gzip", "-H", "Content-Type: text/plain; charset=utf-8",
             "--data-binary", f"@{path}"],
            check=True,
        )
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=2,
                        help="rounds, alternating which tool goes first (default 2)")
    args = parser.parse_args()

    times: dict[str, list[float]] = {"linkwatch": [], "curl": []}
    stored: dict[str, int] = {}
    with tempfile.TemporaryDirectory(prefix="linkwatch-bench-") as tmp:
        workdir = Path(tmp)
        points = samples(args.points)
        files = curl_files(points, args.batch, workdir)
        server = start_influxd(workdir / "influxd")
        try:
            for r in range(args.rounds):
                # Alternate the order: influxd compacts behind the first run of a round.
                order = ("linkwatch", "curl") if r % 2 == 0 else ("curl", "linkwatch")
                for tool in order:
                    db = f"bench_{tool}_{r}"
                    server.create_database(db)
                    if tool == "linkwatch":
                        elapsed = run_linkwatch(server, db, points, args.batch, workdir)
                    else:
                        elapsed = run_curl(server, db, files)
                    times[tool].append(elapsed)
                    stored[db] = count_points(server, db)
        finally:
            server.stop()

    n = len(points)
    print(f"points: {n}, batch: {args.batch} lines, gzip level {GZIP_LEVEL}, influxd 1.6.7, "
          f"{args.rounds} rounds")
    for tool, label in (("linkwatch", "linkwatch shipper "), ("curl", "curl --data-binary")):
        runs = "  ".join(f"{n / t:,.0f}" for t in times[tool])
        print(f"{label}: best {n / min(times[tool]):9,.0f} points/s  (runs: {runs})")
    ratio = min(times["curl"]) / min(times["linkwatch"])
    print(f"ratio linkwatch/curl (best runs): {ratio:.0%}  (target >= 50%)")
    short = {db: count for db, count in stored.items() if count != n}
    if short:
        print(f"error: databases missing points: {short}", file=sys.stderr)
        return 1
    print(f"every database holds all {n} points")
    return 0


if __name__ == "__main__":
    sys.exit(main())
