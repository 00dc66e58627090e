"""CPU cost of one ping cycle over 200 loopback targets × 5 echoes, beside fping and ping.

    python bench/ping_cycle.py [--targets 200] [--count 5] [--spacing 0.2] [--no-icmplib]

Runs, in one go and on the same addresses (127.0.0.1 … 127.0.0.200, answered by this
host's own loopback, so no traffic leaves the machine):

1. linkwatch: open the probes, run one cycle untimed (warm-up), then time the next one
   inside the running process (time.process_time: our CPU, start-up excluded);
2. icmplib's async_multiping in the same process, for comparison (optional);
3. `fping -C <count> -q -p <spacing> -i 1` — one process for all targets;
4. one `ping -c <count> -i <spacing> -q` process per target, all started at once the way
   Telegraf's exec method does (CPU from RUSAGE_CHILDREN).

Echoes are spaced alike everywhere (`--spacing`), so wall times are comparable. Needs
root (raw sockets) or a ping_group_range that covers this process's group.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import resource
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from linkwatch.collector.ping.check import PingCheck
from linkwatch.collector.ping.probe import open_probes
from linkwatch.collector.ping.schedule import BUDGET_SHARE
from linkwatch.collector.sample import ProbeContext
from linkwatch.collector.units import Seconds


@dataclass
class Result:
    name: str
    cpu_s: float
    wall_s: float
    replies: int
    expected: int


def _addresses(n: int) -> list[str]:
    return [f"127.0.{i // 250}.{i % 250 + 1}" for i in range(n)]


class _NoState:
    def get_state(self, key: str) -> bytes | None:
        return None

    def put_state(self, key: str, value: bytes) -> None:
        pass


async def _linkwatch(addresses: list[str], count: int, spacing: float) -> Result:
    # interval chosen so the schedule spaces echoes `spacing` apart
    interval = Seconds(spacing * count / BUDGET_SHARE)
    checks = [
        PingCheck(name=f"t{i}", address=a, interval=interval, count=count)
        for i, a in enumerate(addresses)
    ]
    async with contextlib.AsyncExitStack() as stack:
        probes = await open_probes(checks, ProbeContext(store=_NoState(), exit_stack=stack))
        await asyncio.gather(*(collect() for collect in probes.values()))  # warm-up
        cpu0, wall0 = time.process_time(), time.perf_counter()
        batches = await asyncio.gather(*(collect() for collect in probes.values()))
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    replies = sum(s.fields["received"] for batch in batches for s in batch)
    return Result("linkwatch (one cycle, warm)", cpu, wall, int(replies), len(addresses) * count)


async def _icmplib(addresses: list[str], count: int, spacing: float) -> Result:
    import icmplib

    privileged = os.geteuid() == 0
    cpu0, wall0 = time.process_time(), time.perf_counter()
    hosts = await icmplib.async_multiping(
        addresses,
        count=count,
        interval=spacing,
        timeout=1,
        concurrent_tasks=len(addresses),
        privileged=privileged,
    )
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    replies = sum(h.packets_received for h in hosts)
    return Result("icmplib async_multiping", cpu, wall, replies, len(addresses) * count)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _fping(addresses: list[str], count: int, spacing: float) -> Result:
    cmd = ["fping", "-C", str(count), "-q", "-p", str(int(spacing * 1000)), "-i", "1", *addresses]
    cpu0, wall0 = _children_cpu(), time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    cpu, wall = _children_cpu() - cpu0, time.perf_counter() - wall0
    # with -C and -q, fping writes "addr : 0.05 0.04 - ..." lines to stderr
    replies = sum(
        1
        for line in proc.stderr.splitlines()
        if " : " in line
        for value in line.split(" : ", 1)[1].split()
        if value != "-"
    )
    return Result("fping -C (one process)", cpu, wall, replies, len(addresses) * count)


def _ping_per_target(addresses: list[str], count: int, spacing: float) -> Result:
    cpu0, wall0 = _children_cpu(), time.perf_counter()
    procs = [
        subprocess.Popen(
            ["ping", "-n", "-q", "-c", str(count), "-i", str(spacing), "-W", "1", address],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        for address in addresses
    ]
    replies = 0
    for proc in procs:
        out, _ = proc.communicate()
        for line in out.splitlines():
            if "received" in line:  # "5 packets transmitted, 5 received, 0% packet loss"
                replies += int(line.split(",")[1].split()[0])
    cpu, wall = _children_cpu() - cpu0, time.perf_counter() - wall0
    return Result("ping -c, one process per target", cpu, wall, replies, len(addresses) * count)


def _table(results: list[Result], reference: Result | None) -> str:
    rows = [("tool", "CPU-s", "wall-s", "replies", "CPU vs fping")]
    for r in results:
        ratio = f"{r.cpu_s / reference.cpu_s:.2f}×" if reference and reference.cpu_s else "—"
        rows.append(
            (r.name, f"{r.cpu_s:.3f}", f"{r.wall_s:.2f}", f"{r.replies}/{r.expected}", ratio)
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(
            cell.ljust(w) if i == 0 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in rows
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", type=int, default=200)
    parser.add_argument("--count", type=int, default=5)
    parser.add_argument("--spacing", type=float, default=0.2, help="seconds between echoes")
    parser.add_argument("--no-icmplib", action="store_true", help="skip the icmplib row")
    args = parser.parse_args()
    addresses = _addresses(args.targets)

    results = [asyncio.run(_linkwatch(addresses, args.count, args.spacing))]
    if not args.no_icmplib:
        results.append(asyncio.run(_icmplib(addresses, args.count, args.spacing)))
    fping = None
    if shutil.which("fping"):
        fping = _fping(addresses, args.count, args.spacing)
        results.append(fping)
    else:
        print("fping not found: its row is skipped", file=sys.stderr)
    if shutil.which("ping"):
        results.append(_ping_per_target(addresses, args.count, args.spacing))

    print(
        f"{args.targets} loopback targets × {args.count} echoes, {args.spacing} s apart; "
        f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs"
    )
    print(_table(results, fping))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
