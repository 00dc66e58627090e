"""The SNMP probe against a real net-snmp snmpd serving this host's interfaces."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from pathlib import Path

import pytest

from linkwatch.collector.sample import ProbeContext, Sample
from linkwatch.collector.snmp import InterfaceSelection, SnmpCheck, SnmpOid, SnmpV3User
from linkwatch.collector.snmp.probe import open_probes
from linkwatch.collector.units import Seconds, Secret
from tests.servers.snmpd import MemoryStore, Snmpd, free_udp_port

pytestmark = pytest.mark.integration

LOOPBACK = InterfaceSelection(names=("lo",))


def v2c(server: Snmpd, name: str = "host", **kw) -> SnmpCheck:
    return SnmpCheck(name=name, address=server.host, port=server.port,
                     community=Secret(server.community), **kw)


def v3(server: Snmpd, name: str = "host-v3", **kw) -> SnmpCheck:
    user = SnmpV3User(username=server.v3_user, auth_protocol="sha",
                      auth_key=Secret(server.v3_auth_key), priv_protocol="aes",
                      priv_key=Secret(server.v3_priv_key))
    return SnmpCheck(name=name, address=server.host, port=server.port, version="3", v3=user,
                     **kw)


async def cycles(checks, n: int = 1, store=None, between=None) -> list[list[Sample]]:
    """Open the probes, run `n` cycles of every check, close them; samples per cycle."""
    store = store or MemoryStore()
    out = []
    async with contextlib.AsyncExitStack() as stack:
        collect = await open_probes(checks, ProbeContext(store=store, exit_stack=stack))
        for i in range(n):
            if i and between:
                await between(i)
            results = await asyncio.gather(*(c() for c in collect.values()))
            out.append([s for r in results for s in r])
    return out


def by(samples, measurement, **tags) -> list[Sample]:
    return [s for s in samples if s.measurement == measurement
            and all(s.tags.get(k) == v for k, v in tags.items())]


@pytest.mark.parametrize("make", [v2c, v3], ids=["v2c", "v3-authPriv-sha-aes"])
def test_polls_the_hosts_interfaces(snmpd, make):
    check = make(snmpd, interfaces=InterfaceSelection(include_loopback=True,
                                                      include_down=True))
    first, second = asyncio.run(cycles([check], n=2, between=lambda i: asyncio.sleep(1.1)))
    [device] = by(second, "device")
    assert device.fields["up"] == 1 and device.fields["counter_reset"] == 0
    assert device.fields["sys_uptime_s"] > 0
    names = {s.tags["if_name"] for s in by(second, "interface")}
    assert "lo" in names and len(names) == len(socket.if_nameindex())
    [lo] = by(second, "interface", if_name="lo")
    assert isinstance(lo.fields["in_octets"], int) and lo.fields["oper_status"] == 1
    assert lo.fields["in_bps"] >= 0 and "in_util_pct" in lo.fields
    # No rate on the first cycle: there is nothing to take a delta from.
    [lo1] = by(first, "interface", if_name="lo")
    assert "in_bps" not in lo1.fields and "in_octets" in lo1.fields


def test_loopbacks_and_down_interfaces_are_skipped_unless_asked(snmpd):
    [samples] = asyncio.run(cycles([v2c(snmpd)]))
    names = {s.tags["if_name"] for s in by(samples, "interface")}
    assert "lo" not in names
    up = {n for _, n in socket.if_nameindex() if n != "lo" and Path(
        f"/sys/class/net/{n}/operstate").read_text().strip() in ("up", "unknown")}
    assert names <= up


class _Blaster:
    """Sends UDP datagrams over loopback at a steady byte rate until stopped."""

    def __init__(self, bytes_per_s: int, size: int = 10_000) -> None:
        self.sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sink.bind(("127.0.0.1", 0))
        self.sink.settimeout(0.2)
        self.rate, self.size = bytes_per_s, size
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._send), threading.Thread(target=self._drain)]

    def _send(self) -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
            payload = b"x" * self.size
            interval = self.size / self.rate
            due = time.monotonic()
            while not self.stop.is_set():
                tx.sendto(payload, self.sink.getsockname())
                due += interval
                delay = due - time.monotonic()
                if delay > 0:
                    self.stop.wait(delay)

    def _drain(self) -> None:
        while not self.stop.is_set():
            with contextlib.suppress(TimeoutError):
                self.sink.recv(65536)

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for t in self.threads:
            t.join()
        self.sink.close()


@pytest.mark.parametrize("make", [v2c, v3], ids=["v2c", "v3"])
def test_loopback_traffic_shows_up_in_lo_rates(snmpd, make):
    # snmpd reports lo at 10 Mbit/s, so send 4 Mbit/s: a rate above the speed is discarded.
    sent_bps = 4_000_000
    check = make(snmpd, interfaces=LOOPBACK)

    async def run():
        with _Blaster(sent_bps // 8):
            await asyncio.sleep(1)    # the stream is steady before the first poll
            return await cycles([check], n=2, between=lambda i: asyncio.sleep(5))

    _, second = asyncio.run(run())
    [lo] = by(second, "interface", if_name="lo")
    # Every datagram crosses lo once: out of the sender, into the sink.
    assert lo.fields["in_bps"] == pytest.approx(sent_bps, rel=0.10)
    assert lo.fields["out_bps"] == pytest.approx(sent_bps, rel=0.10)
    assert lo.fields["in_util_pct"] == pytest.approx(40, rel=0.10)


def test_uplink_capacity_gives_utilisation_per_direction(snmpd):
    check = v2c(snmpd, interfaces=LOOPBACK, uplink="lo", capacity_down=8_000_000,
                capacity_up=2_000_000)

    async def run():
        with _Blaster(1_000_000 // 8):
            await asyncio.sleep(0.5)
            return await cycles([check], n=2, between=lambda i: asyncio.sleep(3))

    _, second = asyncio.run(run())
    [lo] = by(second, "interface", if_name="lo")
    assert lo.fields["in_util_pct"] == pytest.approx(100 * lo.fields["in_bps"] / 8e6)
    assert lo.fields["out_util_pct"] == pytest.approx(100 * lo.fields["out_bps"] / 2e6)


def test_user_oids_scalars_columns_and_rates(snmpd):
    check = v2c(snmpd, interfaces=InterfaceSelection(enabled=False), oids=(
        SnmpOid(field="uptime_ticks", oid=".1.3.6.1.2.1.1.3.0", rate=True),
        SnmpOid(field="location", oid=".1.3.6.1.2.1.1.6.0"),
        SnmpOid(field="in_octets", oid=".1.3.6.1.2.1.2.2.1.10", table=True, rate=True),
        SnmpOid(field="mtu", oid=".1.3.6.1.2.1.2.2.1.4", table=True),
    ))
    _, second = asyncio.run(cycles([check], n=2, between=lambda i: asyncio.sleep(1.1)))
    assert not by(second, "interface")
    [scalar] = by(second, "snmp", device="host", **{})[:1]
    assert scalar.fields["location"] == "linkwatch test"
    assert scalar.fields["uptime_ticks_per_s"] == pytest.approx(100, rel=0.05)
    rows = [s for s in by(second, "snmp") if "index" in s.tags]
    assert {s.tags["index"] for s in rows} == {str(i) for i, _ in socket.if_nameindex()}
    assert all(s.fields["in_octets_per_s"] >= 0 and "mtu" in s.fields for s in rows)


def test_saved_counters_give_a_rate_on_the_first_cycle_after_a_restart(snmpd):
    store = MemoryStore()
    check = v2c(snmpd, interfaces=LOOPBACK)
    [first] = asyncio.run(cycles([check], store=store))
    assert "in_bps" not in by(first, "interface")[0].fields
    time.sleep(1.1)
    [after_restart] = asyncio.run(cycles([check], store=store))   # a new engine and state
    assert by(after_restart, "interface")[0].fields["in_bps"] >= 0


def test_a_silent_device_does_not_hold_up_the_others(snmpd):
    # Nobody listens on this port: every request waits for its whole timeout.
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", free_udp_port()))   # swallows requests, never answers
    dead = SnmpCheck(name="dead", address="127.0.0.1", port=silent.getsockname()[1],
                     request_timeout=Seconds(3), retries=0)
    live = [v2c(snmpd, name=f"live{i}", interfaces=LOOPBACK) for i in range(3)]
    done: list[str] = []

    async def run():
        async with contextlib.AsyncExitStack() as stack:
            collect = await open_probes([dead, *live],
                                        ProbeContext(store=MemoryStore(), exit_stack=stack))

            async def one(name):
                samples = await collect[name]()
                done.append(name)
                return samples

            return await asyncio.gather(*(one(n) for n in collect))

    try:
        results = dict(zip([dead.name, *(c.name for c in live)], asyncio.run(run()),
                           strict=True))
    finally:
        silent.close()
    # The live devices answered while the silent one was still waiting for its timeout.
    assert done[-1] == "dead"
    assert [s.fields for s in results["dead"]] == [{"up": 0}]
    assert all(by(results[c.name], "device")[0].fields["up"] == 1 for c in live)
