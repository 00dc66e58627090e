"""How long `linkwatch uptime` and `linkwatch bandwidth` take over a month of a district,
next to the floor: InfluxDB answering one plain aggregate over the same points via curl.

    python bench/query.py [--sites 50] [--targets 4] [--interfaces 4] [--days 30] [--rounds 3]

Starts its own influxd (Debian influxdb 1.6.7) on a free loopback port in a temporary
directory and writes, ending now, one-minute data for sites × targets ping series (with
planted outages and flaps) and sites × interfaces interface series (with a planted gap),
as gzipped line protocol batches. Then, in alternating order over a few rounds:

  a) linkwatch uptime --since 30d --format json      (a fresh process: start-up included)
  b) linkwatch bandwidth --since 30d --format json
  c) curl: SELECT count(up), sum(up) FROM ping WHERE time > now() - 30d GROUP BY target

and prints the best wall time of each, and a) and b) as a multiple of c).
Target: each under 2 s and within 3x of the floor.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import gzip
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.servers.influxdb import start_influxd  # noqa: E402

DB = "linkwatch"
BATCH = 10_000


def ping_lines(site: int, target: int, start_s: int, minutes: int) -> list[bytes]:
    """One target's month: mostly up, with a few outages and flaps at fixed places."""
    down = set()
    for k in range(6):
        at = (site * 7919 + target * 104729 + k * 7211) % (minutes - 200)
        down.update(range(at, at + (1 + (k * 13 + site) % 40)))
    tags = (f"ping,agent=bench,site=site-{site:02d},target=site-{site:02d}-t{target},"
            f"address=10.{site}.0.{target}")
    lines = []
    for m in range(minutes):
        t = (start_s + 60 * m) * 10**9
        if m in down:
            lines.append(f"{tags} sent=5i,received=0i,loss_pct=100,up=0i {t}".encode())
        else:
            r = 20 + (m * 7 + target) % 31
            lines.append(f"{tags} sent=5i,received=5i,loss_pct=0,rtt_avg_ms={r}.5,"
                         f"jitter_ms=1.5,up=1i {t}".encode())
    return lines


def interface_lines(site: int, index: int, start_s: int, minutes: int) -> list[bytes]:
    tags = (f"interface,agent=bench,site=site-{site:02d},device=router-{site:02d},"
            f"if_index={index},if_name=ge-0/0/{index},if_alias=port{index}")
    gap = range((site * 977) % (minutes - 300), (site * 977) % (minutes - 300) + 180)
    lines = []
    for m in range(minutes):
        t = (start_s + 60 * m) * 10**9
        counters = f"in_octets={m * 7_500_000}i,out_octets={m * 2_000_000}i,speed_bps=1e8"
        if m in gap:
            lines.append(f"{tags} {counters} {t}".encode())
            continue
        bps = 1e6 * (1 + (m * 37 + index) % 97)
        lines.append(f"{tags} {counters},in_bps={bps},out_bps={bps / 3},"
                     f"in_util_pct={bps / 1e6},out_util_pct={bps / 3e6} {t}".encode())
    return lines


def post(url: str, lines: list[bytes]) -> None:
    body = gzip.compress(b"\n".join(lines), compresslevel=1)
    request = urllib.request.Request(f"{url}/write?db={DB}", data=body, method="POST",
                                     headers={"Content-Encoding": "gzip"})
    with urllib.request.urlopen(request, timeout=300) as response:
        assert response.status == 204


def fill(url: str, args) -> int:
    minutes = args.days * 1440
    start_s = int(time.time()) // 60 * 60 - minutes * 60
    jobs = [(ping_lines, s, t) for s in range(args.sites) for t in range(args.targets)]
    jobs += [(interface_lines, s, i) for s in range(args.sites)
             for i in range(1, args.interfaces + 1)]
    written = 0
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        pending = []
        for make, a, b in jobs:
            lines = make(a, b, start_s, minutes)
            written += len(lines)
            pending += [pool.submit(post, url, lines[i:i + BATCH])
                        for i in range(0, len(lines), BATCH)]
            if len(pending) > 64:
                for f in pending:
                    f.result()
                pending = []
        for f in pending:
            f.result()
    return written


def settle(url: str) -> None:
    """Wait until influxd has compacted what was just written (its cache is flushed to TSM
    files after a quiet spell): a query timed right after the writes measures the cache."""
    data = None
    while True:
        request = urllib.request.Request(f"{url}/debug/vars")
        with urllib.request.urlopen(request, timeout=30) as response:
            stats = json.load(response)
        cache = sum(v.get("values", {}).get("memBytes", 0) for k, v in stats.items()
                    if k.startswith("tsm1_cache"))
        if cache == 0 or cache == data:
            return
        data = cache
        time.sleep(5)


def write_config(root: Path, url: str, args) -> Path:
    lines = ["agent: {name: bench, site: site-00, spool: {path: %s}}" % (root / "spool.db"),
             f'outputs: [{{type: influxdb, url: "{url}", version: "1", database: {DB}, '
             "timeout: 120s}]",
             "sites:"]
    lines += [f"  - {{name: site-{s:02d}, capacity: {{down: 100Mbps, up: 40Mbps}}}}"
              for s in range(args.sites)]
    lines += ["checks:", "  ping:"]
    lines += [f"    - {{name: site-{s:02d}-t{t}, address: 10.{s}.0.{t}, site: site-{s:02d}}}"
              for s in range(args.sites) for t in range(args.targets)]
    lines += ["  snmp:"]
    lines += [f"    - {{name: router-{s:02d}, address: 10.{s}.0.254, site: site-{s:02d}, "
              "uplink: port1}" for s in range(args.sites)]
    path = root / "config.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def timed(command: list[str]) -> tuple[float, bytes]:
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{command} exited {done.returncode}: {done.stderr.decode()[-2000:]}")
    return elapsed, done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=50)
    parser.add_argument("--targets", type=int, default=4)
    parser.add_argument("--interfaces", type=int, default=4)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--keep", type=Path, default=None, metavar="DIR",
                        help="Keep influxd's data in DIR and reuse it on the next run "
                        "(the data ends at the time of the run that wrote it).")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="linkwatch-bench-query-") as tmp:
        root = Path(tmp)
        data_dir = args.keep or root / "influxd"
        reuse = (data_dir / "data" / DB).is_dir()
        server = start_influxd(data_dir)
        try:
            if not reuse:
                server.create_database(DB)
                start = time.perf_counter()
                points = fill(server.url, args)
                setup = time.perf_counter() - start
                print(f"setup: {points:,} points written in {setup:.1f} s "
                      f"({points / setup:,.0f} points/s, gzip line protocol, {BATCH:,} "
                      "per batch)")
            settle(server.url)
            config = write_config(root, server.url, args)
            env = dict(os.environ)
            cli = [sys.executable, "-m", "linkwatch"]
            floor_q = ("SELECT count(up), sum(up) FROM ping WHERE time > now() - "
                       f"{args.days}d GROUP BY target")
            commands = {
                "uptime": [*cli, "uptime", "-c", str(config), "--since", f"{args.days}d",
                           "--format", "json"],
                "bandwidth": [*cli, "bandwidth", "-c", str(config), "--since",
                              f"{args.days}d", "--format", "json"],
                "floor (curl)": ["curl", "-sf", "-XPOST", f"{server.url}/query?db={DB}",
                                 "--data-urlencode", f"q={floor_q}"],
            }
            best = {name: float("inf") for name in commands}
            outputs = {}
            os.environ.update(env)
            for _ in range(args.rounds):
                for name, command in commands.items():
                    elapsed, out = timed(command)
                    best[name] = min(best[name], elapsed)
                    outputs[name] = out
            uptime_rows = json.loads(outputs["uptime"])
            bw_rows = json.loads(outputs["bandwidth"])
            assert len([r for r in uptime_rows if r["target"]]) == args.sites * args.targets
            assert len(bw_rows) == args.sites * args.interfaces * 2
            floor = best["floor (curl)"]
            print(f"data: {args.sites} sites x {args.targets} targets ping and "
                  f"x {args.interfaces} interfaces, 1-minute points, {args.days} days")
            for name, value in best.items():
                ratio = "" if name.startswith("floor") else f"   {value / floor:.2f}x floor"
                print(f"{name:>14}: {value:6.3f} s (best of {args.rounds}){ratio}")
        finally:
            server.stop()


if __name__ == "__main__":
    main()
