"""What device profiles add to a device's SNMP cycle, in client CPU-ms, beside IF-MIB alone.

    python bench/profiles.py [--rounds 30]

Serves real recordings with snmpsim (one process apart, so only linkwatch's own CPU is
counted: `time.process_time()` of this process) and polls each device with the real probe
twice: `profile: none` (IF-MIB, sysUpTime: what a cycle cost before profiles) and
`profile: auto` (the same plus the profile its sysObjectID selects). For each it prints:

- first cycle: a new probe's first cycle (profile: the sysObjectID GET and the walk of the
  profile's tables; IF-MIB: the walk of names and speeds), median of `--rounds` probes;
- steady cycle: later cycles (profile: its scalars in the first request, its known rows by
  GET), median of `--rounds` cycles;
- evaluate: turning one cycle's values into samples, in-process, no I/O (µs).

snmpsim answers slowly, so wall time here measures snmpsim; the CPU figures are linkwatch's.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.servers.snmpd import MemoryStore  # noqa: E402
from tests.servers.snmpsim import start_snmpsim, stop_snmpsim  # noqa: E402

DEVICES = {   # name → community (the recording)
    "ubiquiti-m5 (airMAX)": "network/wifi/ubiquiti-m5",
    "eaton-93e-80 (UPS-MIB)": "UPS/eaton-93e-80",
    "apc-8932 (PowerNet PDU)": "UPS/apc-8932",
    "mikrotik (written)": "mikrotik_routeros/1",
    "paloalto-pa-5000 (sensors)": "network/firewall/paloalto-pa-5000",
}
FROM_SNMPSIM_DATA = ("network/wifi/ubiquiti-m5", "UPS/eaton-93e-80", "UPS/apc-8932",
                     "network/firewall/paloalto-pa-5000")   # the rest: tests/fixtures/snmprec


async def cycles(check, rounds: int) -> tuple[list[float], list[float], int]:
    """CPU-ms of `rounds` first cycles (each a new probe) and `rounds` steady cycles, and
    the points a steady cycle writes."""
    from linkwatch.collector.sample import ProbeContext
    from linkwatch.collector.snmp.probe import open_probes

    first, steady, points = [], [], 0
    for i in range(rounds):
        async with contextlib.AsyncExitStack() as stack:
            collect = (await open_probes([check], ProbeContext(MemoryStore(), stack)))[
                check.name]
            t0 = time.process_time()
            await collect()
            first.append((time.process_time() - t0) * 1000)
            if i == 0:
                for _ in range(rounds):
                    t0 = time.process_time()
                    found = await collect()
                    steady.append((time.process_time() - t0) * 1000)
                points = len(found)
    return first, steady, points


def evaluate_us(community: str, data_dir: Path, rounds: int = 2000) -> float:
    from linkwatch.collector.snmp.profiles import shipped_catalog
    from linkwatch.collector.snmp.profiles.evaluate import evaluate, plan
    from tests.fixtures.snmprec_values import read_snmprec, walk

    values = read_snmprec(data_dir / f"{community}.snmprec")
    object_id = values.get((1, 3, 6, 1, 2, 1, 1, 2, 0))
    profiles = shipped_catalog().choose("auto", object_id if isinstance(object_id, str)
                                        else None)
    need = plan(profiles)
    scalars = {s: values[s] for s in need.scalars if s in values}
    columns = walk(values, need.columns)
    t0 = time.process_time()
    for _ in range(rounds):
        evaluate(profiles, scalars, columns, device="d", time_ns=0)
    return (time.process_time() - t0) / rounds * 1e6


def profile_name(community: str, data_dir: Path) -> str:
    from linkwatch.collector.snmp.profiles import shipped_catalog
    from tests.fixtures.snmprec_values import read_snmprec

    object_id = read_snmprec(data_dir / f"{community}.snmprec").get((1, 3, 6, 1, 2, 1, 1, 2, 0))
    chosen = shipped_catalog().choose("auto", object_id if isinstance(object_id, str) else None)
    return chosen[0].name if chosen else "-"


async def main(rounds: int) -> None:
    from linkwatch.collector.snmp import InterfaceSelection, SnmpCheck
    from linkwatch.collector.units import Seconds, Secret

    with tempfile.TemporaryDirectory() as tmp:
        server = start_snmpsim(Path(tmp), recordings=FROM_SNMPSIM_DATA)
        try:
            print(f"client CPU-ms per cycle, median of {rounds} (linkwatch's process only)\n")
            print(f"{'device':30} {'profile':18} {'first: IF-MIB':>13} {'+profile':>9} "
                  f"{'steady: IF-MIB':>14} {'+profile':>9} {'points':>6} {'evaluate':>9}")
            for name, community in DEVICES.items():
                figures = {}
                for mode in ("none", "auto"):
                    check = SnmpCheck(name="d", address=server.host, port=server.port,
                                      community=Secret(community), profile=mode,
                                      request_timeout=Seconds(10),
                                      interfaces=InterfaceSelection(include_down=True))
                    figures[mode] = await cycles(check, rounds)
                first = [statistics.median(figures[m][0]) for m in ("none", "auto")]
                steady = [statistics.median(figures[m][1]) for m in ("none", "auto")]
                print(f"{name:30} {profile_name(community, server.data_dir):18} {first[0]:13.1f} "
                      f"{first[1] - first[0]:+9.1f} {steady[0]:14.1f} "
                      f"{steady[1] - steady[0]:+9.1f} {figures['auto'][2]:6d} "
                      f"{evaluate_us(community, server.data_dir):7.0f}µs")
        finally:
            stop_snmpsim(server)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    asyncio.run(main(parser.parse_args().rounds))
