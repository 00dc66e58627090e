"""The SNMP probe against a real net-snmp snmpd, alone in a network namespace of its own.

The probe runs inside that namespace too (`tests.netns.inside`). What it measures, the veth
`port1`, carries only the datagrams a test sends through it, so counters and rates are
checked exactly, however busy the machine or its loopback is. Between two polls a test
waits for a condition (its datagrams delivered, the device's clock advanced), never for a
fixed time.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import socket
from collections.abc import Awaitable, Callable

import pytest

from linkwatch.collector.sample import ProbeContext, Sample
from linkwatch.collector.snmp import InterfaceSelection, SnmpCheck, SnmpOid, SnmpV3User
from linkwatch.collector.snmp.probe import open_probes
from linkwatch.collector.units import Seconds, Secret
from tests.netns import inside
from tests.servers.snmpd import (
    V3_AUTH,
    V3_AUTH_KEY,
    V3_NOAUTH_USER,
    V3_PRIV,
    V3_PRIV_KEY,
    MemoryStore,
    SnmpdNetns,
    v3_user_name,
)

pytestmark = [pytest.mark.integration, pytest.mark.netns]

PORT = InterfaceSelection(names=("port1",))
PAYLOAD = 1000            # bytes of UDP payload per datagram: one frame, no fragments
FRAME = PAYLOAD + 8 + 20 + 14   # what a veth counts per datagram: UDP, IPv4, Ethernet
DEVICE_LOG = "linkwatch.collector.snmp.device"


def v2c(lan: SnmpdNetns, name: str = "sw", **kw) -> SnmpCheck:
    return SnmpCheck(name=name, address="127.0.0.1", port=lan.server.port,
                     community=Secret(lan.server.community), **kw)


def v3(lan: SnmpdNetns, name: str = "sw-v3", auth: str = "sha", priv: str = "aes",
       user: str | None = None, **kw) -> SnmpCheck:
    account = SnmpV3User(
        username=user or v3_user_name(auth, priv), auth_protocol=auth,
        auth_key=Secret(kw.pop("auth_key", V3_AUTH_KEY)) if auth != "none" else None,
        priv_protocol=priv,
        priv_key=Secret(kw.pop("priv_key", V3_PRIV_KEY)) if priv != "none" else None)
    return SnmpCheck(name=name, address="127.0.0.1", port=lan.server.port, version="3",
                     v3=account, **kw)


def in_netns(lan: SnmpdNetns, work: Callable[[], Awaitable]):
    """Run the coroutine function `work` in the device's namespace; its result."""
    return inside(lan.netns, lambda: asyncio.run(work()))


Between = Callable[[int, list[Sample]], Awaitable[None]]


async def cycles(checks: list[SnmpCheck], n: int = 1, store: MemoryStore | None = None,
                 between: Between | None = None) -> list[list[Sample]]:
    """Open the probes, run `n` cycles of every check, close them; samples per cycle.
    `between(i, last_cycle)` runs before cycle i > 0."""
    out: list[list[Sample]] = []
    async with contextlib.AsyncExitStack() as stack:
        collect = await open_probes(checks, ProbeContext(store or MemoryStore(), stack))
        for i in range(n):
            if i and between:
                await between(i, out[-1])
            results = await asyncio.gather(*(c() for c in collect.values()))
            out.append([s for r in results for s in r])
    return out


def by(samples: list[Sample], measurement: str, **tags: str) -> list[Sample]:
    return [s for s in samples if s.measurement == measurement
            and all(s.tags.get(k) == v for k, v in tags.items())]


def uptime_s(samples: list[Sample], device: str = "sw") -> float:
    return by(samples, "device", device=device)[0].fields["sys_uptime_s"]


def ticked(lan: SnmpdNetns, seconds: float = 0.0, traffic: Traffic | None = None,
           out: int = 0, into: int = 0) -> Between:
    """`between` that sends `out`/`into` datagrams through port1 (with `traffic`), then
    waits for the device's clock to move `seconds` past the last cycle's reading, and at
    least one tick: a rate needs its two readings apart in the device's time."""
    async def wait(i: int, last: list[Sample]) -> None:
        if traffic is not None:
            await asyncio.to_thread(traffic.send, out=out, into=into)
        read = [s.fields["sys_uptime_s"] for s in by(last, "device")
                if "sys_uptime_s" in s.fields]
        await asyncio.to_thread(lan.wait_clock_past, max(read) + seconds)
    return wait


class Traffic:
    """Datagrams through the device's `port1`: out of it to the peer, and into it from the
    peer; each call returns once every datagram was received at the far end."""

    def __init__(self, lan: SnmpdNetns) -> None:
        self.lan = lan
        self.out_sink = inside(lan.peer_netns, lambda: self._bound(lan.peer_address))
        self.in_sink = inside(lan.netns, lambda: self._bound(lan.address))
        self.out_tx = inside(lan.netns, lambda: socket.socket(socket.AF_INET,
                                                              socket.SOCK_DGRAM))
        self.in_tx = inside(lan.peer_netns, lambda: socket.socket(socket.AF_INET,
                                                                  socket.SOCK_DGRAM))

    @staticmethod
    def _bound(address: str) -> socket.socket:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((address, 0))
        s.settimeout(10)   # an upper bound for a lost datagram, never waited out when none is
        return s

    def send(self, out: int = 0, into: int = 0) -> None:
        for count, tx, sink in ((out, self.out_tx, self.out_sink),
                                (into, self.in_tx, self.in_sink)):
            target = sink.getsockname()
            while count:
                batch = min(count, 50)   # what the sink's buffer surely holds
                for _ in range(batch):
                    tx.sendto(b"x" * PAYLOAD, target)
                for _ in range(batch):
                    sink.recv(PAYLOAD + 1)
                count -= batch

    def close(self) -> None:
        for s in (self.out_sink, self.in_sink, self.out_tx, self.in_tx):
            s.close()


@pytest.fixture
def traffic(snmpd_netns):
    t = Traffic(snmpd_netns)
    yield t
    t.close()


def names_in(lan: SnmpdNetns) -> set[str]:
    return {name for _, name in inside(lan.netns, socket.if_nameindex)}


# --------------------------------------------------------------------- interfaces

@pytest.mark.parametrize("make", [v2c, v3], ids=["v2c", "v3-authPriv-sha-aes"])
def test_polls_every_interface_of_the_device(snmpd_netns, make):
    lan = snmpd_netns
    check = make(lan, interfaces=InterfaceSelection(include_loopback=True, include_down=True))
    first, second = in_netns(lan, lambda: cycles([check], n=2, between=ticked(lan)))
    [device] = by(second, "device")
    assert device.fields["up"] == 1 and device.fields["counter_reset"] == 0
    assert device.fields["sys_uptime_s"] > 0
    points = {s.tags["if_name"]: s for s in by(second, "interface")}
    assert set(points) == names_in(lan) == {"lo", "port1", "port2"}
    assert points["port1"].fields["oper_status"] == 1
    assert points["port2"].fields["oper_status"] == 2
    assert points["port1"].fields["in_bps"] == 0.0   # nothing crossed it
    # No rate on the first cycle: there is nothing to take a delta from.
    [port1] = by(first, "interface", if_name="port1")
    assert "in_bps" not in port1.fields and "in_octets" in port1.fields


def test_loopbacks_and_down_interfaces_are_skipped_unless_asked(snmpd_netns):
    lan = snmpd_netns
    [samples] = in_netns(lan, lambda: cycles([
        v2c(lan, "plain"),
        v2c(lan, "down", interfaces=InterfaceSelection(include_down=True)),
        v2c(lan, "loop", interfaces=InterfaceSelection(include_loopback=True))]))
    reported = {d: {s.tags["if_name"] for s in by(samples, "interface", device=d)}
                for d in ("plain", "down", "loop")}
    assert reported == {"plain": {"port1"}, "down": {"port1", "port2"},
                        "loop": {"lo", "port1"}}


@pytest.mark.parametrize("make", [v2c, v3], ids=["v2c", "v3"])
def test_traffic_through_a_port_is_counted_exactly(snmpd_netns, traffic, make):
    """400 datagrams out of port1 and 150 into it between two polls: the octet counters
    move by exactly their frames, the kernel agrees, and the rates are those octets over
    the device's own time."""
    lan = snmpd_netns
    check = make(lan, name="sw", interfaces=PORT)
    kernel: list[int] = []
    send = ticked(lan, traffic=traffic, out=400, into=150)

    async def count_then_send(i: int, last: list[Sample]) -> None:
        kernel.append(lan.tx_bytes())
        await send(i, last)

    first, second = in_netns(lan, lambda: cycles([check], n=2, between=count_then_send))
    [before], [after] = by(first, "interface"), by(second, "interface")
    sent_out, sent_in = after.fields["out_octets"] - before.fields["out_octets"], \
        after.fields["in_octets"] - before.fields["in_octets"]
    assert sent_out == 400 * FRAME and sent_in == 150 * FRAME
    assert before.fields["out_octets"] == kernel[0]
    assert after.fields["out_octets"] == lan.tx_bytes()
    seconds = uptime_s(second) - uptime_s(first)
    assert after.fields["out_bps"] == pytest.approx(sent_out * 8 / seconds, rel=1e-9)
    assert after.fields["in_bps"] == pytest.approx(sent_in * 8 / seconds, rel=1e-9)
    speed = after.fields["speed_bps"]
    assert after.fields["out_util_pct"] == pytest.approx(100 * after.fields["out_bps"] / speed)
    assert by(second, "device")[0].fields["counter_reset"] == 0


def test_uplink_capacity_gives_utilisation_per_direction(snmpd_netns, traffic):
    lan = snmpd_netns
    check = v2c(lan, interfaces=PORT, uplink="port1", capacity_down=8_000_000,
                capacity_up=2_000_000)

    send = ticked(lan, traffic=traffic, out=100, into=200)
    _, second = in_netns(lan, lambda: cycles([check], n=2, between=send))
    [port] = by(second, "interface")
    assert port.fields["in_bps"] > 0 and port.fields["out_bps"] > 0
    assert port.fields["in_util_pct"] == pytest.approx(100 * port.fields["in_bps"] / 8e6)
    assert port.fields["out_util_pct"] == pytest.approx(100 * port.fields["out_bps"] / 2e6)


def test_user_oids_scalars_columns_and_rates(snmpd_netns, traffic):
    lan = snmpd_netns
    check = v2c(lan, interfaces=InterfaceSelection(enabled=False), oids=(
        SnmpOid(field="uptime_ticks", oid=".1.3.6.1.2.1.1.3.0", rate=True),
        SnmpOid(field="location", oid=".1.3.6.1.2.1.1.6.0"),
        SnmpOid(field="in_octets", oid=".1.3.6.1.2.1.2.2.1.10", table=True, rate=True),
        SnmpOid(field="mtu", oid=".1.3.6.1.2.1.2.2.1.4", table=True),
    ))

    # The scalar's own rate is timed by the device clock read in another request: a second
    # of it keeps the tick or two between those reads within 2 %.
    send_and_tick = ticked(lan, seconds=1, traffic=traffic, into=100)
    _, second = in_netns(lan, lambda: cycles([check], n=2, between=send_and_tick))
    assert not by(second, "interface")
    [scalar] = [s for s in by(second, "snmp") if "index" not in s.tags]
    assert scalar.fields["location"] == "linkwatch test"
    assert scalar.fields["uptime_ticks_per_s"] == pytest.approx(100, rel=0.03)
    rows = {s.tags["index"]: s.fields for s in by(second, "snmp") if "index" in s.tags}
    indexes = inside(lan.netns, socket.if_nameindex)
    assert set(rows) == {str(i) for i, _ in indexes}
    port1 = str(next(i for i, name in indexes if name == "port1"))
    assert rows[port1]["in_octets_per_s"] > 0 and rows[port1]["mtu"] == 1500
    assert all("in_octets_per_s" in r for r in rows.values())


def test_saved_counters_give_a_rate_on_the_first_cycle_after_a_restart(snmpd_netns, traffic):
    lan = snmpd_netns
    store = MemoryStore()
    check = v2c(lan, interfaces=PORT)
    [first] = in_netns(lan, lambda: cycles([check], store=store))
    assert "in_bps" not in by(first, "interface")[0].fields
    traffic.send(out=100)
    lan.wait_clock_past(uptime_s(first))
    [after_restart] = in_netns(lan, lambda: cycles([check], store=store))   # a new engine
    [port] = by(after_restart, "interface")
    seconds = uptime_s(after_restart) - uptime_s(first)
    assert port.fields["out_bps"] == pytest.approx(100 * FRAME * 8 / seconds, rel=1e-9)


def test_a_silent_device_does_not_hold_up_the_others(snmpd_netns):
    lan = snmpd_netns
    silent = inside(lan.netns, lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
    silent.bind(("127.0.0.1", 0))   # swallows requests, never answers
    dead = SnmpCheck(name="dead", address="127.0.0.1", port=silent.getsockname()[1],
                     request_timeout=Seconds(3), retries=0)
    live = [v2c(lan, name=f"live{i}", interfaces=PORT) for i in range(3)]
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
        results = dict(zip([dead.name, *(c.name for c in live)], in_netns(lan, run),
                           strict=True))
    finally:
        silent.close()
    # The live devices answered while the silent one was still waiting for its timeout.
    assert done[-1] == "dead"
    assert [s.fields for s in results["dead"]] == [{"up": 0}]
    assert all(by(results[c.name], "device")[0].fields["up"] == 1 for c in live)


# --------------------------------------------------------------------- IPv6

def test_ipv4_and_ipv6_devices_polled_by_one_agent(snmpd_netns):
    """The same snmpd over [::1] and 127.0.0.1, side by side in one probe (one engine with
    both transports), and an IPv6 address written with its port."""
    lan = snmpd_netns
    port = lan.server.port
    checks = [v2c(lan, "v4", interfaces=PORT),
              SnmpCheck(name="v6", address="::1", port=port, interfaces=PORT,
                        community=Secret(lan.server.community)),
              SnmpCheck(name="v6-bracketed", address=f"[::1]:{port}", interfaces=PORT,
                        version="3", v3=v3(lan).v3)]
    _, second = in_netns(lan, lambda: cycles(checks, n=2, between=ticked(lan)))
    for name in ("v4", "v6", "v6-bracketed"):
        [device] = by(second, "device", device=name)
        assert device.fields["up"] == 1, name
        [port1] = by(second, "interface", device=name)
        assert port1.tags["if_name"] == "port1" and "in_bps" in port1.fields
    assert by(second, "device", device="v6")[0].tags["address"] == "::1"


# --------------------------------------------------------------------- SNMPv3

V3_COMBINATIONS = [("none", "none"),
                   *itertools.product(V3_AUTH, ["none", *V3_PRIV])]


@pytest.mark.parametrize(("auth", "priv"), V3_COMBINATIONS,
                         ids=[f"{a}-{p}" for a, p in V3_COMBINATIONS])
def test_every_snmpv3_protocol_pair(snmpd_netns, auth, priv):
    """Every auth_protocol × priv_protocol linkwatch accepts, against the snmpd user
    created with the same pair (net-snmp names in tests/servers/snmpd.py)."""
    lan = snmpd_netns
    user = V3_NOAUTH_USER if auth == "none" else None
    check = v3(lan, name="sw", auth=auth, priv=priv, user=user, interfaces=PORT)
    [samples] = in_netns(lan, lambda: cycles([check]))
    [device] = by(samples, "device")
    assert device.fields["up"] == 1
    assert by(samples, "interface")[0].tags["if_name"] == "port1"


WRONG = {
    "v2c-community": (lambda lan: SnmpCheck(name="sw", address="127.0.0.1",
                                            port=lan.server.port, community=Secret("nope"),
                                            request_timeout=Seconds(0.5), retries=0),
                      "no answer within 0.5 s × 1 try (wrong community"),
    "v3-auth-key": (lambda lan: v3(lan, name="sw", auth_key="not-the-key"),
                    "wrong auth_key or auth_protocol for v3 user 'lw-sha-aes'"),
    "v3-auth-protocol": (lambda lan: v3(lan, name="sw", auth="sha256",
                                        user=v3_user_name("sha", "aes")),
                         "wrong auth_key or auth_protocol for v3 user 'lw-sha-aes'"),
    "v3-user": (lambda lan: v3(lan, name="sw", user="nobody"),
                "the device has no v3 user 'nobody'"),
    # A device that cannot decrypt a request says nothing: as silent as one that is off.
    "v3-priv-key": (lambda lan: v3(lan, name="sw", priv_key="not-the-key",
                                   request_timeout=Seconds(0.5), retries=0),
                    "no answer within 0.5 s × 1 try (wrong priv_key or priv_protocol"),
    "v3-priv-variant": (lambda lan: v3(lan, name="sw", priv="aes256-blumenthal",
                                       user=v3_user_name("sha", "aes256"),
                                       request_timeout=Seconds(0.5), retries=0),
                        "no answer within 0.5 s × 1 try (wrong priv_key or priv_protocol"),
    "v3-level": (lambda lan: v3(lan, name="sw", priv="none", user=v3_user_name("sha", "aes")),
                 "the device refused the request (authorizationError)"),
}


@pytest.mark.parametrize("case", list(WRONG))
def test_wrong_credentials_are_down_with_the_reason_once(snmpd_netns, caplog, case):
    lan = snmpd_netns
    make, reason = WRONG[case]
    caplog.set_level(logging.INFO, logger=DEVICE_LOG)
    runs = in_netns(lan, lambda: cycles([make(lan)], n=3))
    assert [[s.fields for s in samples] for samples in runs] == [[{"up": 0}]] * 3
    warnings = [r.getMessage() for r in caplog.records
                if r.name == DEVICE_LOG and r.levelno == logging.WARNING]
    assert len(warnings) == 1 and reason in warnings[0], warnings
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
