"""What a device sends is checked before it counts, and no device costs another its cycle.

The devices here are `tests/servers/snmp_responder.py`: an SNMP agent on loopback, built
with scapy, that answers as RFC 3416 says or as a broken or hostile device would. No real
device misbehaves on demand; the agent under test is the real probe, run by the real
scheduler's cycle where timing matters.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from dataclasses import replace

import pytest
from scapy.asn1.asn1 import ASN1_COUNTER64, ASN1_OID, ASN1_STRING

from linkwatch.agent.daemon.scheduler import ScheduledCheck, SchedulerCounters, run_cycle
from linkwatch.agent.datamodel.lineprotocol import encode
from linkwatch.collector.sample import ProbeContext, Sample
from linkwatch.collector.snmp import InterfaceSelection, SnmpCheck, SnmpOid
from linkwatch.collector.snmp.probe import open_probes
from linkwatch.collector.units import Seconds
from tests.servers import snmp_responder
from tests.servers.snmp_responder import (
    Answer,
    EndlessMib,
    RawValue,
    Request,
    responding,
    switch_mib,
)
from tests.servers.snmpd import MemoryStore

pytestmark = pytest.mark.integration

SYS_NAME = (1, 3, 6, 1, 2, 1, 1, 5, 0)
FORGED_OID = (1, 3, 6, 1, 4, 1, 99999, 1, 0)
HC_IN = (1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 6)
HC_OUT = (1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 10)
IF_IN_ERRORS = (1, 3, 6, 1, 2, 1, 2, 2, 1, 14)
IF_ENTRY, IFX_ENTRY = (1, 3, 6, 1, 2, 1, 2, 2, 1), (1, 3, 6, 1, 2, 1, 31, 1, 1, 1)
DEVICE_LOG = "linkwatch.collector.snmp.device"


def device_check(port: int, name: str = "sw", address: str = "127.0.0.1", **kw) -> SnmpCheck:
    kw.setdefault("request_timeout", Seconds(1))
    kw.setdefault("retries", 0)
    return SnmpCheck(name=name, address=address, port=port, **kw)


async def poll(checks: list[SnmpCheck], cycles: int = 1, between=None,
               ) -> list[list[Sample]]:
    """Open the probes, run `cycles` cycles of every check at once, close them."""
    out = []
    async with contextlib.AsyncExitStack() as stack:
        collect = await open_probes(checks, ProbeContext(MemoryStore(), stack))
        for i in range(cycles):
            if i and between:
                between(i)
            results = await asyncio.gather(*(c() for c in collect.values()))
            out.append([s for r in results for s in r])
    return out


async def scheduled(checks: list[SnmpCheck], cycles: int = 1) -> dict[str, list[Sample]]:
    """Cycles of every check at once as the agent's scheduler runs them (its timeout
    included): what reached the sink in the last one, by device."""
    got: list[Sample] = []
    async with contextlib.AsyncExitStack() as stack:
        collect = await open_probes(checks, ProbeContext(MemoryStore(), stack))
        runs = [ScheduledCheck("snmp", c.name, float(c.interval),
                               float(c.timeout or c.interval), {"agent": "a", "site": "s"},
                               collect[c.name]) for c in checks]
        counters = SchedulerCounters()
        for _ in range(cycles):
            got.clear()
            await asyncio.gather(*(run_cycle(r, got.extend, counters) for r in runs))
    return {c.name: [s for s in got if s.tags.get("device") == c.name] for c in checks}


def of(samples: list[Sample], measurement: str, **tags: str) -> list[Sample]:
    return [s for s in samples if s.measurement == measurement
            and all(s.tags.get(k) == v for k, v in tags.items())]


def up(samples: list[Sample], device: str = "sw") -> int | None:
    points = of(samples, "device", device=device)
    return points[0].fields["up"] if points else None


def warnings_about(caplog, text: str) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name == DEVICE_LOG and r.levelno >= logging.WARNING and text in r.getMessage()]


# ------------------------------------------------------------- whose answer it is

def test_a_device_cannot_answer_for_another(caplog):
    """Device A sees every request sent to silent device B (same community, as across a
    district) and answers each one itself, with B's exact request id, plus an OID nobody
    asked for. B must stay down and nothing of A's may be written as B's."""
    async def run():
        async with responding(switch_mib(2)) as a:
            def answer_for_b(req: Request, answer: Answer) -> list[Answer]:
                forged = replace(answer, varbinds=(*answer.varbinds,
                                                   (FORGED_OID, ASN1_STRING(b"forged"))))
                assert a.transport is not None
                a.transport.sendto(snmp_responder.encode(req, forged), req.source)
                return []   # B itself says nothing

            async with responding(switch_mib(2), fault=answer_for_b,
                                  host="127.0.0.2") as b:
                checks = [device_check(a.port, "A"),
                          device_check(b.port, "B", address="127.0.0.2",
                                       oids=(SnmpOid("forged", ".1.3.6.1.4.1.99999.1.0"),))]
                [samples] = await poll(checks)
                return samples, len(b.requests)

    samples, asked_b = asyncio.run(run())
    assert asked_b >= 1
    assert up(samples, "A") == 1
    assert [s.fields for s in samples if s.tags["device"] == "B"] == [{"up": 0}]
    assert not any("forged" in str(s.fields) for s in samples)
    assert warnings_about(caplog, "snmp B")


def test_request_ids_cannot_be_guessed_from_ones_own():
    """A device that sees its own request's id must not learn the next device's."""
    async def run():
        async with responding(switch_mib(1)) as agent:
            checks = [device_check(agent.port, f"d{i}",
                                   interfaces=InterfaceSelection(enabled=False))
                      for i in range(10)]
            await poll(checks, cycles=2)
            return [r.request_id for r in agent.requests]

    ids = asyncio.run(run())
    assert len(ids) >= 20 and len(set(ids)) == len(ids)
    steps = [b - a for a, b in itertools.pairwise(ids)]
    # pysnmp's own ids count up by one from a random start: every step would be 1.
    assert sum(1 for s in steps if abs(s) <= 1000) <= 1


def test_answers_from_another_port_are_not_taken(caplog):
    def other_port(req: Request, answer: Answer) -> list[Answer]:
        return [replace(answer, from_other_port=True)]

    async def run():
        async with responding(switch_mib(2), fault=other_port) as agent:
            [samples] = await poll([device_check(agent.port)])
            assert agent.other is not None
            return samples, agent.other.get_extra_info("sockname")[1]

    samples, other = asyncio.run(run())
    assert [s.fields for s in samples] == [{"up": 0}]
    [reason] = warnings_about(caplog, "is down")
    assert f"answers came from 127.0.0.1:{other} instead" in reason


def test_values_for_oids_not_asked_for_are_ignored(caplog):
    """A GET's answer counts only for the OIDs asked, at their place; a name that was not
    asked for, or an extra varbind, is no value."""
    def rename_and_add(req: Request, answer: Answer) -> list[Answer]:
        if req.kind != "get" or SYS_NAME not in req.oids:
            return [answer]
        renamed = tuple((FORGED_OID if o == SYS_NAME else o, v) for o, v in answer.varbinds)
        return [replace(answer, varbinds=(*renamed, (SYS_NAME, ASN1_STRING(b"forged"))))]

    mib = switch_mib(1) | {SYS_NAME: ASN1_STRING(b"core-sw")}

    async def run():
        async with responding(mib, fault=rename_and_add) as agent:
            check = device_check(agent.port, interfaces=InterfaceSelection(enabled=False),
                                 oids=(SnmpOid("name", ".1.3.6.1.2.1.1.5.0"),
                                       SnmpOid("uptime", ".1.3.6.1.2.1.1.3.0")))
            return await poll([check], cycles=3)

    for samples in asyncio.run(run()):
        assert up(samples) == 1
        [scalars] = of(samples, "snmp")
        assert scalars.fields == {"uptime": 100_000}    # sysName's answer was not sysName
    assert len(warnings_about(caplog, "not asked for")) == 1


def test_a_walk_that_loops_back_ends_and_keeps_what_it_read():
    """A device whose ifTable walk jumps back to the first row (some firmware loops) ends
    the walk there: the rows it gave in order are kept, none twice, no endless walk."""
    def loop_back(req: Request, answer: Answer) -> list[Answer]:
        if req.kind != "bulk" or not answer.varbinds:
            return [answer]
        # every third varbind is the first row's again
        looped = tuple((req.oids[0] + (1,), v) if i % 3 == 2 else (o, v)
                       for i, (o, v) in enumerate(answer.varbinds))
        return [replace(answer, varbinds=looped)]

    async def run():
        async with responding(switch_mib(4), fault=loop_back) as agent:
            return await poll([device_check(agent.port)], cycles=2)

    for samples in asyncio.run(run()):
        assert up(samples) == 1
        names = [s.tags["if_name"] for s in of(samples, "interface")]
        assert len(names) == len(set(names))


# ------------------------------------------------------------- one bad value

def test_an_all_ones_counter64_costs_only_its_own_field(caplog):
    """Firmware that reports a Counter64 as 2^64 - 1: that port still has its status,
    errors, out_octets and out rate, the other ports everything, and the log says it once."""
    mib = switch_mib(2)
    mib[(*HC_IN, 1)] = ASN1_COUNTER64(2**64 - 1)

    def advance(i: int) -> None:
        for port in (1, 2):
            mib[(*HC_OUT, port)] = ASN1_COUNTER64(1_000_000 * port + 125_000 * i)
        mib[(*HC_IN, 2)] = ASN1_COUNTER64(2_000_000 + 125_000 * i)
        mib[(1, 3, 6, 1, 2, 1, 1, 3, 0)] = switch_mib(1, uptime_ticks=100_000 + 100 * i)[
            (1, 3, 6, 1, 2, 1, 1, 3, 0)]

    async def run():
        async with responding(mib) as agent:
            def between(i: int) -> None:
                advance(i)
                agent.mib.values.update(mib)

            return await poll([device_check(agent.port)], cycles=3, between=between)

    cycles = asyncio.run(run())
    for i, samples in enumerate(cycles):
        [port1] = of(samples, "interface", if_name="port1")
        [port2] = of(samples, "interface", if_name="port2")
        assert "in_octets" not in port1.fields
        assert {"out_octets", "oper_status", "admin_status", "in_errors", "out_errors",
                "in_discards", "out_discards", "speed_bps"} <= set(port1.fields)
        for point in samples:
            encode(point)   # every point can be written: no field out of range
        if i:
            assert "in_bps" not in port1.fields
            assert port1.fields["out_bps"] == pytest.approx(1_000_000)   # 125 kB in 1 s
            assert port2.fields["in_bps"] == port2.fields["out_bps"] == pytest.approx(1e6)
    assert len(warnings_about(caplog, "in_octets")) == 1


@pytest.mark.parametrize("value", [
    RawValue(b"\x46\x09\x01" + b"\x00" * 8),                # a nine-octet Counter64
    RawValue(b"\x02\x0d\x01" + b"\x00" * 12),               # INTEGER 2^96
    RawValue(b"\x41\x05\x01\x00\x00\x00\x00"),              # Counter32 2^32
    RawValue(b"\x01\x01\xff"),                              # BOOLEAN: not an SNMP type
    RawValue(b"\x40\x05\x0a\x00\x00\x01\x02"),              # IpAddress of five octets
], ids=["counter64-9-octets", "integer-2^96", "counter32-2^32", "boolean", "ipaddress-5"])
def test_a_value_snmp_does_not_allow_costs_only_itself(caplog, value):
    """pysnmp refuses a whole answer for one such value: the device would look down, with
    every port's data lost. Only that value may be lost."""
    mib = switch_mib(3)
    mib[(*IF_IN_ERRORS, 2)] = value

    async def run():
        async with responding(mib) as agent:
            return await poll([device_check(agent.port)], cycles=2)

    for samples in asyncio.run(run()):
        assert up(samples) == 1
        ports = {s.tags["if_name"]: s.fields for s in of(samples, "interface")}
        assert set(ports) == {"port1", "port2", "port3"}
        assert "in_errors" not in ports["port2"] and ports["port2"]["out_errors"] == 4
        assert ports["port1"]["in_errors"] == 1 and ports["port3"]["in_errors"] == 3
    assert len(warnings_about(caplog, ".1.3.6.1.2.1.2.2.1.14.2")) == 1


# ------------------------------------------------------------- time

def test_a_device_that_answers_without_end_is_down():
    """Every table row after row, for ever: the walk stops at max_rows, up=0."""
    endless = EndlessMib(switch_mib(1), tables=(IF_ENTRY, IFX_ENTRY))

    async def run():
        async with responding(endless) as agent:
            return await scheduled([device_check(agent.port, max_rows=200,
                                                 interval=Seconds(30))])

    assert [s.fields for s in asyncio.run(run())["sw"]] == [{"up": 0}]


def test_a_device_too_slow_to_finish_in_time_is_down(caplog):
    """Each answer comes, but late: the cycle cannot end within its timeout. The scheduler
    gets up=0, not nothing (which would show as UNKNOWN)."""
    def late(req: Request, answer: Answer) -> list[Answer]:
        return [replace(answer, delay_s=0.9)]   # under request_timeout: no resend

    async def run():
        async with responding(switch_mib(4), fault=late) as agent:
            return await scheduled([device_check(agent.port, request_timeout=Seconds(2),
                                                 interval=Seconds(2))])

    assert [s.fields for s in asyncio.run(run())["sw"]] == [{"up": 0}]
    [reason] = warnings_about(caplog, "is down")
    assert "no complete answer within 1.8 s" in reason


def test_a_slow_endless_device_does_not_starve_the_others_of_a_single_slot():
    """max_concurrent 1: a device that answers every request slowly and never ends holds
    the one slot a request at a time, never its whole cycle; the healthy devices finish
    (up=1 with their interfaces), the endless one is down."""
    endless = EndlessMib(switch_mib(1), tables=(IF_ENTRY, IFX_ENTRY))

    def slow(req: Request, answer: Answer) -> list[Answer]:
        return [replace(answer, delay_s=0.3)]

    async def run():
        async with (responding(endless, fault=slow) as bad,
                    responding(switch_mib(3)) as good):
            common = {"max_concurrent": 1, "interval": Seconds(6)}
            checks = [device_check(bad.port, "endless", **common),
                      *(device_check(good.port, f"ok{i}", **common) for i in range(3))]
            return await scheduled(checks)

    by_device = asyncio.run(run())
    assert [s.fields for s in by_device["endless"]] == [{"up": 0}]
    for name in ("ok0", "ok1", "ok2"):
        assert up(by_device[name], name) == 1
        assert len(of(by_device[name], "interface")) == 3


def test_a_device_that_never_got_a_slot_writes_nothing_and_says_why(caplog):
    """Queued behind silent devices for its whole timeout, a device was never asked:
    no up=0 for it (it may be fine), and a warning to raise max_concurrent. (The second
    cycle is the one judged: in the first, the devices' addresses resolve in any order.)"""
    async def run():
        silent = [await asyncio.get_running_loop().create_datagram_endpoint(
            asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0)) for _ in range(4)]
        try:
            async with responding(switch_mib(1)) as good:
                ports = [t.get_extra_info("sockname")[1] for t, _ in silent]
                common = {"max_concurrent": 1, "interval": Seconds(3)}
                checks = [*(device_check(p, f"silent{i}", **common)
                            for i, p in enumerate(ports)),
                          device_check(good.port, "late", **common)]
                return await scheduled(checks, cycles=2)
        finally:
            for t, _ in silent:
                t.close()

    by_device = asyncio.run(run())
    assert by_device["late"] == []
    assert warnings_about(caplog, "snmp late: not polled this cycle")
    assert warnings_about(caplog, "raise max_concurrent")
    # the silent ones: down, or (queued out like `late`) nothing; never up
    assert all(up(by_device[f"silent{i}"], f"silent{i}") in (0, None) for i in range(4))


def test_a_v1_error_index_past_the_request_is_no_crash(caplog):
    def bad_index(req: Request, answer: Answer) -> list[Answer]:
        if req.kind == "next":
            return [replace(answer, error_status=2, error_index=99)]
        return [answer]

    async def run():
        async with responding(switch_mib(2), fault=bad_index) as agent:
            return await scheduled([device_check(agent.port, version="1")])

    [device] = of(asyncio.run(run())["sw"], "device")
    assert device.fields["up"] in (0, 1)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_discover_takes_no_answer_for_one_address_from_another():
    """`linkwatch discover` asks every address of a subnet; a host that answers for the
    others, with their exact request ids, must not make them look like SNMP devices."""
    from linkwatch.collector.path.identify import identify

    mib = switch_mib(1) | {SYS_NAME: ASN1_STRING(b"real-switch"),
                           (1, 3, 6, 1, 2, 1, 1, 1, 0): ASN1_STRING(b"descr"),
                           (1, 3, 6, 1, 2, 1, 1, 2, 0): ASN1_OID("1.3.6.1.4.1.9.1.1")}

    async def run():
        async with responding(mib) as a:
            def answer_for_b(req: Request, answer: Answer) -> list[Answer]:
                assert a.transport is not None
                a.transport.sendto(snmp_responder.encode(req, answer), req.source)
                return []

            async with responding(mib, fault=answer_for_b, host="127.0.0.2") as b:
                return (await identify(["127.0.0.1"], ["public"], port=a.port),
                        await identify(["127.0.0.2"], ["public"], port=b.port,
                                       timeout_s=0.5))

    real, framed = asyncio.run(run())
    assert real["127.0.0.1"].sys_name == "real-switch"
    assert framed == {}
