"""SNMP polling cost, linkwatch beside net-snmp's snmpbulkwalk, against one local snmpd.

    sudo python bench/snmp_poll.py [--devices 100] [--ports 48] [--rounds 20]

As root it builds a network namespace with `--ports` veth interfaces (a 48-port switch as
snmpd sees it) and runs snmpd and the measurements inside it; otherwise it measures against
this host's own few interfaces. Figures are client CPU (getrusage), not wall time.

(a) varbinds per CPU-second: linkwatch's per-cycle column walk vs snmpbulkwalk of the same
    columns (one process per column, as snmpbulkwalk walks one root per call).
(b) `--devices` devices (one community each on the same snmpd) polled by the real probe:
    CPU seconds per cycle (steady and with the name/speed refresh), peak RSS.
(c) a live device polled alone, then beside 10 devices that never answer.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.servers.snmpd import (  # noqa: E402
    COMMUNITY,
    MemoryStore,
    client_env,
    free_udp_port,
    start_snmpd,
    stop_snmpd,
)


def _communities(n: int) -> list[str]:
    return [f"dev{i:03d}" for i in range(n)]


def child_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def own_cpu() -> float:
    return time.process_time()


async def measure(port: int, workdir: Path, devices: int, rounds: int) -> dict:
    from linkwatch.collector.sample import ProbeContext
    from linkwatch.collector.snmp import InterfaceSelection, SnmpCheck, ifmib
    from linkwatch.collector.snmp.client import SnmpSession
    from linkwatch.collector.snmp.probe import open_probes
    from linkwatch.collector.units import Seconds, Secret

    every = InterfaceSelection(include_loopback=True, include_down=True)
    base = SnmpCheck(name="x", address="127.0.0.1", port=port, community=Secret(COMMUNITY),
                     interfaces=every)
    columns = (*ifmib.HC_COLUMNS, *ifmib.STATUS_COLUMNS)
    out: dict = {}

    # (a) one walk of the per-cycle columns, repeated.
    session = SnmpSession()
    client = await session.client(base)
    await client.walk(columns)   # warm up (engine discovery, MIB view)
    t0, n = own_cpu(), 0
    for _ in range(rounds):
        walk = await client.walk(columns)
        n += sum(len(rows) for rows in walk.columns.values())
    out["lw_cpu"], out["lw_varbinds"] = own_cpu() - t0, n
    out["interfaces"] = len(walk.columns[columns[0]])
    session.close()

    env = client_env(workdir)
    c0, n = child_cpu(), 0
    for _ in range(rounds):
        for col in columns:
            res = subprocess.run(["snmpbulkwalk", "-v2c", "-c", COMMUNITY, "-On", "-Cr25",
                                  f"udp:127.0.0.1:{port}", "." + ".".join(map(str, col))],
                                 env=env, capture_output=True, text=True, check=True)
            n += res.stdout.count("\n")
    out["nb_cpu"], out["nb_varbinds"] = child_cpu() - c0, n

    # (b) the probe, as the agent runs it, over many devices.
    checks = [SnmpCheck(name=c, address="127.0.0.1", port=port, community=Secret(c),
                        interfaces=every, request_timeout=Seconds(10))
              for c in _communities(devices)]
    async with contextlib.AsyncExitStack() as stack:
        collect = await open_probes(checks, ProbeContext(MemoryStore(), stack))

        async def cycle() -> tuple[float, float, int]:
            t, w = own_cpu(), time.monotonic()
            results = await asyncio.gather(*(c() for c in collect.values()))
            ups = sum(s.fields.get("up", 0) for r in results for s in r
                      if s.measurement == "device")
            return own_cpu() - t, time.monotonic() - w, ups

        out["first_cycle"] = await cycle()          # descriptions + counters
        steady = [await cycle() for _ in range(3)]
        out["steady_cycle"] = min(steady)
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    # (c) one live device alone, then beside 10 silent ones.
    silent_ports = [free_udp_port() for _ in range(10)]
    silent = [SnmpCheck(name=f"silent{i}", address="127.0.0.1", port=p,
                        request_timeout=Seconds(2), retries=0)
              for i, p in enumerate(silent_ports)]
    live = SnmpCheck(name="live", address="127.0.0.1", port=port, community=Secret(COMMUNITY),
                     interfaces=every)
    for label, extra in (("alone", []), ("beside_silent", silent)):
        async with contextlib.AsyncExitStack() as stack:
            collect = await open_probes([live, *extra], ProbeContext(MemoryStore(), stack))
            # A first cycle of every device: descriptions read, every target set up once.
            await asyncio.gather(*(c() for c in collect.values()))
            started = time.monotonic()
            finished = {}

            async def timed(name, started=started, collect=collect, finished=finished):
                await collect[name]()
                finished[name] = time.monotonic() - started

            await asyncio.gather(*(timed(n) for n in collect))
            out[f"live_{label}_s"] = finished["live"]
    return out


def inside(args: argparse.Namespace) -> None:
    result = asyncio.run(measure(args.port, Path(args.workdir), args.devices, args.rounds))
    print(json.dumps(result))


def report(r: dict, devices: int, where: str) -> None:
    lw = r["lw_varbinds"] / r["lw_cpu"]
    nb = r["nb_varbinds"] / r["nb_cpu"]
    first_cpu, first_wall, first_up = r["first_cycle"]
    cpu, wall, up = r["steady_cycle"]
    print(f"snmpd: {where}; {r['interfaces']} interfaces per device")
    print("(a) per-cycle columns (HC octets, status, errors, discards), client CPU")
    print(f"    {'':12}{'varbinds':>10}{'CPU s':>9}{'varbinds/CPU-s':>16}")
    print(f"    {'linkwatch':12}{r['lw_varbinds']:>10}{r['lw_cpu']:>9.3f}{lw:>16,.0f}")
    print(f"    {'snmpbulkwalk':12}{r['nb_varbinds']:>10}{r['nb_cpu']:>9.3f}{nb:>16,.0f}")
    print(f"    ratio linkwatch/snmpbulkwalk: {lw / nb:.2f}")
    print(f"(b) {devices} devices, one probe cycle (all devices concurrently)")
    print(f"    first cycle (names/speeds + counters): {first_cpu:.2f} CPU s, "
          f"{first_wall:.2f} s wall, {first_up} up")
    print(f"    steady cycle: {cpu:.2f} CPU s ({1000 * cpu / devices:.1f} CPU ms per device), "
          f"{wall:.2f} s wall, {up} up")
    print(f"    per minute at one cycle/min: {100 * cpu / 60:.1f}% of one core "
          f"(target ≤ 25%); per device ≤ 150 CPU ms: "
          f"{'yes' if 1000 * cpu / devices <= 150 else 'NO'}")
    print(f"    peak RSS: {r['peak_rss_mb']:.0f} MB")
    delay = 1000 * (r["live_beside_silent_s"] - r["live_alone_s"])
    print(f"(c) a live device's cycle: alone {1000 * r['live_alone_s']:.0f} ms, beside 10 "
          f"silent devices {1000 * r['live_beside_silent_s']:.0f} ms (delay {delay:+.0f} ms)")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--devices", type=int, default=100)
    p.add_argument("--ports", type=int, default=48)
    p.add_argument("--rounds", type=int, default=20)
    p.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--port", type=int, help=argparse.SUPPRESS)
    p.add_argument("--workdir", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.inside:
        inside(args)
        return
    work = Path(tempfile.mkdtemp(prefix="lw-bench-"))
    ns = None
    if os.geteuid() == 0:
        ns = f"lw-bench-{uuid.uuid4().hex[:6]}"
        subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        if ns:
            run = ["ip", "-n", ns]
            subprocess.run([*run, "link", "set", "lo", "up"], check=True)
            # veth pairs (this kernel has no dummy driver): both ends are ports.
            for i in range(1, args.ports, 2):
                subprocess.run([*run, "link", "add", f"port{i}", "type", "veth", "peer",
                                "name", f"port{i + 1}"], check=True)
                for name in (f"port{i}", f"port{i + 1}"):
                    subprocess.run([*run, "link", "set", name, "up"], check=True)
        server = start_snmpd(work / "snmpd", extra_communities=_communities(args.devices),
                             netns=ns)
        try:
            cmd = [sys.executable, __file__, "--inside", "--port", str(server.port),
                   "--workdir", str(work / "snmpd"), "--devices", str(args.devices),
                   "--rounds", str(args.rounds)]
            if ns:
                cmd = ["ip", "netns", "exec", ns, *cmd]
            out = subprocess.run(cmd, check=True, capture_output=True, text=True)
        finally:
            stop_snmpd(server)
        where = (f"namespace with {args.ports} veth ports + lo" if ns
                 else "this host's interfaces (run as root for 48-port devices)")
        report(json.loads(out.stdout.strip().splitlines()[-1]), args.devices, where)
    finally:
        if ns:
            subprocess.run(["ip", "netns", "del", ns], check=False)


if __name__ == "__main__":
    main()
