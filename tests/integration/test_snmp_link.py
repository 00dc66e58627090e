"""End to end over a real shaped link: a commune router and the district, two namespaces.

The router namespace runs snmpd and pushes UDP at twice the link's rate towards the
district namespace through a veth pair shaped to 2 Mbit/s with `tbf`; the probe, run in the
router namespace like an agent on the commune's router, must see the shaped rate.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest

from tests.servers.snmpd import COMMUNITY, start_snmpd, stop_snmpd

pytestmark = [pytest.mark.integration, pytest.mark.netns]

REPO = Path(__file__).resolve().parents[2]
SHAPED_BPS = 2_000_000
ROUTER_IP, DISTRICT_IP = "10.77.0.1", "10.77.0.2"   # exist only inside the test's namespaces

# Runs in the router namespace: blast towards the district, poll twice, print the samples.
RUNNER = textwrap.dedent("""
    import asyncio, contextlib, json, socket, sys, threading, time
    from linkwatch.collector.sample import ProbeContext
    from linkwatch.collector.snmp import InterfaceSelection, SnmpCheck
    from linkwatch.collector.snmp.probe import open_probes
    from linkwatch.collector.units import BitsPerSecond, Secret
    from tests.servers.snmpd import MemoryStore

    port, community, target = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    stop = threading.Event()

    def blast(bytes_per_s=1_000_000 // 8 * 4, size=1200):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
            due, payload = time.monotonic(), b"x" * size
            while not stop.is_set():
                tx.sendto(payload, (target, 9999))
                due += size / bytes_per_s
                if due > time.monotonic():
                    stop.wait(due - time.monotonic())

    async def main():
        check = SnmpCheck(name="commune-router", address="127.0.0.1", port=port,
                          community=Secret(community),
                          interfaces=InterfaceSelection(names=("veth-r",)),
                          uplink="veth-r", capacity_down=BitsPerSecond(2e6),
                          capacity_up=BitsPerSecond(2e6))
        async with contextlib.AsyncExitStack() as stack:
            collect = await open_probes([check], ProbeContext(MemoryStore(), stack))
            await asyncio.sleep(2)                  # the shaper's queue is full by now
            await collect[check.name]()
            await asyncio.sleep(8)
            return await collect[check.name]()

    threading.Thread(target=blast, daemon=True).start()
    samples = asyncio.run(main())
    stop.set()
    print(json.dumps([[s.measurement, dict(s.tags), dict(s.fields)] for s in samples]))
""")


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


@pytest.fixture
def commune_link(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root")
    if not (shutil.which("ip") and shutil.which("tc")):
        pytest.skip("iproute2 (ip, tc) is not installed")
    tag = uuid.uuid4().hex[:6]
    router, district = f"lw-router-{tag}", f"lw-district-{tag}"
    _ip("netns", "add", router)
    try:
        _ip("netns", "add", district)
        _ip("-n", router, "link", "add", "veth-r", "type", "veth", "peer", "name", "veth-d",
            "netns", district)
        _ip("-n", router, "addr", "add", f"{ROUTER_IP}/30", "dev", "veth-r")
        _ip("-n", district, "addr", "add", f"{DISTRICT_IP}/30", "dev", "veth-d")
        for ns, dev in ((router, "veth-r"), (district, "veth-d")):
            _ip("-n", ns, "link", "set", dev, "up")
            _ip("-n", ns, "link", "set", "lo", "up")
        subprocess.run(["ip", "netns", "exec", router, "tc", "qdisc", "add", "dev", "veth-r",
                        "root", "tbf", "rate", "2mbit", "burst", "4kb", "latency", "50ms"],
                       check=True, capture_output=True)
        sink = subprocess.Popen(
            ["ip", "netns", "exec", district, sys.executable, "-c",
             "import socket\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n"
             f"s.bind(('{DISTRICT_IP}',9999))\nwhile True: s.recv(65536)"])
        server = start_snmpd(tmp_path / "snmpd", netns=router)
        yield router, server
        stop_snmpd(server)
        sink.kill()
        sink.wait()
    finally:
        subprocess.run(["ip", "netns", "del", district], capture_output=True)
        subprocess.run(["ip", "netns", "del", router], capture_output=True)


def test_shaped_link_rate_and_utilisation(commune_link):
    router, server = commune_link
    out = subprocess.run(
        ["ip", "netns", "exec", router, sys.executable, "-c", RUNNER, str(server.port),
         COMMUNITY, DISTRICT_IP],
        capture_output=True, text=True, check=True, timeout=120,
        env=dict(os.environ))
    samples = json.loads(out.stdout.strip().splitlines()[-1])
    [iface] = [f for m, t, f in samples if m == "interface" and t["if_name"] == "veth-r"]
    # Out of the router towards the district is the shaped direction: the site's upload.
    assert iface["out_bps"] == pytest.approx(SHAPED_BPS, rel=0.10)
    assert iface["out_util_pct"] == pytest.approx(100, abs=10)
    assert iface["in_bps"] < SHAPED_BPS * 0.1
