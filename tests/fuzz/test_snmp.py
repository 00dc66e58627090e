"""SNMP answers crafted to break the probe: wrong types, huge integers, noSuchObject,
endOfMibView, OIDs out of order or never asked for, answers from another port, for another
request id or for another device, garbage, silence.

The devices are the scapy-built agent of tests/servers/snmp_responder.py on loopback; the
probe is the real one. Invariants, whatever a device sends:
- no exception leaves a cycle and nothing is logged at ERROR (no traceback);
- every cycle of every device ends with one `device` point;
- no forged point: every raw field is a value the device itself served for that field's
  OID, never one sent from another port, for another request or by another device;
- no lost point: when the real answers still arrive (whatever else comes, and whatever
  values are out of range), every port has every field whose value is usable;
- the agent keeps polling its other checks: a healthy device polled beside it, by the same
  engine, is complete and exact every cycle.

`LINKWATCH_FUZZ_SCALE` multiplies the number of inputs (CI: 1); `LINKWATCH_FUZZ_SEED` set
lets Hypothesis pick new inputs instead of the same ones each run. bench/fuzz_snmp.py runs
these targets longer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from dataclasses import dataclass, replace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyasn1.codec.ber import decoder
from pyasn1.type import univ
from pysnmp.proto.api import v1, v2c
from scapy.asn1.asn1 import ASN1_INTEGER, ASN1_OID

from linkwatch.collector.sample import ProbeContext, Sample
from linkwatch.collector.snmp import InterfaceSelection, SnmpCheck, ber, ifmib, oids, smi
from linkwatch.collector.snmp.probe import open_probes
from linkwatch.collector.units import Seconds
from tests.servers.snmp_responder import (
    END_OF_MIB_VIEW,
    NO_SUCH_INSTANCE,
    NO_SUCH_OBJECT,
    Answer,
    RawValue,
    Request,
    Responder,
    encode,
    responding,
    switch_mib,
)
from tests.servers.snmpd import MemoryStore

pytestmark = pytest.mark.fuzz

SCALE = max(1, int(os.environ.get("LINKWATCH_FUZZ_SCALE", "1")))


def budget(n: int) -> settings:
    return settings(max_examples=n * SCALE, deadline=None, database=None,
                    derandomize="LINKWATCH_FUZZ_SEED" not in os.environ,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


# ----------------------------------------------------------------------------- values

# Integer types as SNMP has them: tag → [low, high). Counter64 is SNMPv2 only; UInteger32
# (0x47) is obsolete and generated only as a type a device should not send.
INT_TAGS = {0x02: (-(2**31), 2**31), 0x41: (0, 2**32), 0x42: (0, 2**32), 0x43: (0, 2**32),
            0x46: (0, 2**64)}
RAW_INT_TAGS = [*INT_TAGS, 0x47]
OTHER_TAGS = [0x01, 0x03, 0x04, 0x05, 0x06, 0x09, 0x0a, 0x0c, 0x13, 0x40, 0x44, 0x45,
              0x48, 0x5e, 0x80, 0x81, 0x82, 0x83, 0x9e]


def tlv(tag: int, content: bytes) -> bytes:
    n = len(content)
    return bytes([tag]) + (bytes([n]) if n < 0x80 else b"\x82" + n.to_bytes(2, "big")) + content


def int_content(value: int) -> bytes:
    return value.to_bytes(max(1, (value.bit_length() + 8) // 8), "big", signed=True)


raw_ints = st.builds(lambda tag, value: RawValue(tlv(tag, int_content(value))),
                     st.sampled_from(RAW_INT_TAGS),
                     st.one_of(st.integers(-(2**70), 2**70), st.sampled_from(
                         [0, -1, 2**31 - 1, 2**31, 2**32 - 1, 2**32, 2**63 - 1, 2**63,
                          2**64 - 1, 2**64, -(2**31) - 1])))
raw_others = st.builds(lambda tag, content: RawValue(tlv(tag, content)),
                       st.sampled_from(OTHER_TAGS), st.binary(max_size=12)).filter(
    lambda v: v.tlv != b"\x82\x00")   # endOfMibView ends a walk: the "end-of-mib" break
bad_values = st.one_of(raw_ints, raw_others)
exceptions = st.sampled_from([NO_SUCH_OBJECT, NO_SUCH_INSTANCE, END_OF_MIB_VIEW])


def served_int(value: Any, version: str = "2c") -> int | None:
    """The integer an SNMP value carries when SNMP allows it, else None (the oracle, kept
    apart from the code under test)."""
    if isinstance(value, RawValue):
        tag, content = value.tlv[0], value.tlv[2:] if value.tlv[1] < 0x80 else value.tlv[4:]
    else:
        raw = bytes(value)
        tag, content = raw[0], raw[2:] if raw[1] < 0x80 else raw[2 + (raw[1] & 0x7F):]
    if tag not in INT_TAGS or not content or (tag == 0x46 and version == "1"):
        return None
    number = int.from_bytes(content, "big", signed=True)
    low, high = INT_TAGS[tag]
    return number if low <= number < high else None


# --------------------------------------------------------------- BER, on its own

@budget(300)
@given(st.binary(max_size=300))
def test_any_bytes_are_read_or_left_alone(data):
    """Whatever arrives, the BER reading before pysnmp neither raises nor makes it worse:
    anything it changes decodes."""
    assert ber.message_id(data) is None or isinstance(ber.message_id(data), int)
    cleaned, replaced = ber.clean_answer(data)
    if replaced:
        decoder.decode(cleaned, asn1Spec=v2c.Message())


def response(version: int, request_id: int, binds: list[tuple[tuple[int, ...], bytes]],
             ) -> bytes:
    body = b"".join(tlv(0x30, bytes(ASN1_OID(".".join(map(str, o)))) + v) for o, v in binds)
    ints = b"".join(bytes(ASN1_INTEGER(n)) for n in (request_id, 0, 0))
    return tlv(0x30, bytes(ASN1_INTEGER(version)) + tlv(0x04, b"public")
               + tlv(0xA2, ints + tlv(0x30, body)))


def leaf(value: Any) -> Any:
    """The value inside pysnmp's nested CHOICEs (ObjectSyntax, SimpleSyntax, …)."""
    while isinstance(value, univ.Choice):
        value = value.getComponent()
    return value


@budget(300)
@given(version=st.sampled_from([0, 1]), request_id=st.integers(0, 2**31 - 1),
       values=st.lists(st.one_of(bad_values, st.builds(RawValue, st.just(b"\x02\x01\x07"))),
                       min_size=1, max_size=8))
def test_an_answer_with_values_snmp_refuses_decodes_once_cleaned(version, request_id, values):
    """Each value pysnmp would refuse is blanked, each it takes is kept as it was, and the
    whole answer then decodes: one bad value costs only itself."""
    binds = [((1, 3, 6, 1, 2, 1, 2, 2, 1, 14, i + 1), v.tlv) for i, v in enumerate(values)]
    message = response(version, request_id, binds)
    assert ber.message_id(message) == request_id
    cleaned, replaced = ber.clean_answer(message)
    spec = v1.Message() if version == 0 else v2c.Message()
    decoded, _ = decoder.decode(cleaned, asn1Spec=spec)
    got = decoded["data"].getComponent()["variable-bindings"]
    assert len(got) == len(binds)
    blanked = {oid for oid, _ in replaced}
    for (oid, raw), bind in zip(binds, got, strict=True):
        text = "." + ".".join(map(str, oid))
        if text in blanked:
            assert isinstance(leaf(bind[1]), univ.Null)
        else:
            assert ber.clean_answer(response(version, 1, [(oid, raw)]))[1] == []


@budget(300)
@given(st.dictionaries(
    st.sampled_from([*ifmib.HC_COLUMNS, *ifmib.LEGACY_COLUMNS, *ifmib.STATUS_COLUMNS,
                     oids.IF_COUNTER_DISCONTINUITY_TIME]),
    st.dictionaries(st.tuples(st.integers(0, 3)),
                    st.one_of(st.integers(-(2**70), 2**70), st.binary(max_size=4),
                              st.text(max_size=4)), max_size=4), max_size=12))
def test_any_counter_columns_give_only_fields_a_point_can_hold(columns):
    for c in ifmib.parse_counters(columns).values():
        for name in ("in_octets", "out_octets", "in_errors", "out_errors", "in_discards",
                     "out_discards"):
            value = getattr(c, name)
            assert value is None or 0 <= value <= smi.INT64_MAX
        for name in ("oper_status", "admin_status"):
            value = getattr(c, name)
            assert value is None or -(2**31) <= value < 2**31


# --------------------------------------------------------------- devices, end to end

FORGED = 424242                         # never a value switch_mib serves
FORGED_OID = (1, 3, 6, 1, 4, 1, 99999, 7, 0)
IF_ENTRY, IFX_ENTRY = (1, 3, 6, 1, 2, 1, 2, 2, 1), (1, 3, 6, 1, 2, 1, 31, 1, 1, 1)
# field → the columns it may come from (octets: 64-bit, or 32-bit where those are missing)
SOURCES = {"in_octets": [(*IFX_ENTRY, 6), (*IF_ENTRY, 10)],
           "out_octets": [(*IFX_ENTRY, 10), (*IF_ENTRY, 16)],
           "oper_status": [(*IF_ENTRY, 8)], "admin_status": [(*IF_ENTRY, 7)],
           "in_discards": [(*IF_ENTRY, 13)], "in_errors": [(*IF_ENTRY, 14)],
           "out_discards": [(*IF_ENTRY, 19)], "out_errors": [(*IF_ENTRY, 20)]}
RANGE = {"in_octets": (0, smi.INT64_MAX + 1), "out_octets": (0, smi.INT64_MAX + 1),
         "oper_status": (-(2**31), 2**31), "admin_status": (-(2**31), 2**31),
         "in_discards": (0, smi.INT64_MAX + 1), "in_errors": (0, smi.INT64_MAX + 1),
         "out_discards": (0, smi.INT64_MAX + 1), "out_errors": (0, smi.INT64_MAX + 1)}
VALUE_COLUMNS = sorted({c for cols in SOURCES.values() for c in cols})


def forged(answer: Answer) -> Answer:
    return replace(answer, varbinds=tuple((o, ASN1_INTEGER(FORGED)) for o, _ in answer.varbinds))


# Faults after which the device's real answers still all arrive: nothing may be lost.
ADDITIVE = {
    "twice": lambda req, a: [a, a],
    "copy-from-another-port": lambda req, a: [replace(forged(a), from_other_port=True), a],
    "copies-for-other-ids": lambda req, a: [
        *(replace(forged(a), request_id=(req.request_id + k) % 2**31) for k in (-2, -1, 1, 2)),
        a],
    "garbage-first": lambda req, a: [Answer(0, raw=bytes(range(7)) * 3), a],
    "late-duplicate": lambda req, a: [a, replace(forged(a), delay_s=0.05)],
}


def destructive(kind: str, target: int) -> Any:
    """A fault on the answer to request number `target` (counted by the responder)."""
    def fault(req: Request, a: Answer, responder: Responder) -> list[Answer]:
        if len(responder.requests) - 1 != target:
            return [a]
        if kind == "silent":
            return []
        if kind == "renamed" and a.varbinds:
            return [replace(a, varbinds=((FORGED_OID, a.varbinds[0][1]), *a.varbinds[1:]))]
        if kind == "reversed":
            return [replace(a, varbinds=a.varbinds[::-1])]
        if kind == "end-of-mib" and a.varbinds:
            return [replace(a, varbinds=((a.varbinds[0][0], END_OF_MIB_VIEW),
                                         *a.varbinds[1:]))]
        if kind == "extra":
            return [replace(a, varbinds=(*a.varbinds, (FORGED_OID, ASN1_INTEGER(FORGED))))]
        if kind == "truncated":
            return [replace(a, raw=encode(req, a)[: max(1, len(encode(req, a)) // 2)])]
        if kind == "gen-err":
            return [replace(a, error_status=5, error_index=1)]
        if kind == "too-big":
            return [replace(a, error_status=1, error_index=0, varbinds=())]
        return [a]
    return fault


@dataclass(frozen=True)
class Device:
    ports: int
    octets: int
    bad: dict                 # OID → the value served there instead
    additive: tuple[str, ...]
    breaks: tuple[tuple[str, int], ...]
    version: str


@st.composite
def devices(draw) -> Device:
    ports = draw(st.integers(1, 4))
    oids_ = [(*col, p) for col in VALUE_COLUMNS for p in range(1, ports + 1)]
    oids_.append((*oids.SYS_UPTIME, 0))
    bad = draw(st.dictionaries(st.sampled_from(oids_), bad_values, max_size=4))
    return Device(
        ports=ports, octets=draw(st.integers(1, 2**40)), bad=bad,
        additive=tuple(draw(st.lists(st.sampled_from(sorted(ADDITIVE)), max_size=2,
                                     unique=True))),
        breaks=tuple(draw(st.lists(st.tuples(
            st.sampled_from(["silent", "renamed", "reversed", "end-of-mib", "extra",
                             "truncated", "gen-err", "too-big"]),
            st.integers(0, 5)), max_size=2))),
        version=draw(st.sampled_from(["2c", "2c", "1"])))


def served(device: Device, cycle: int) -> dict:
    """What the device serves in `cycle` (its counters move between cycles)."""
    mib = switch_mib(device.ports, uptime_ticks=100_000 + 500 * cycle,
                     octets=device.octets + 1000 * cycle)
    mib.update(device.bad)
    return mib


def allowed(mib: dict, field: str, port: int, version: str = "2c") -> set[int]:
    low, high = RANGE[field]
    out = set()
    for col in SOURCES[field]:
        value = served_int(mib[(*col, port)], version) if (*col, port) in mib else None
        if value is not None and low <= value < high:
            out.add(value)
    return out


def check_cycle(samples: list[Sample], device: Device, mib: dict, name: str,
                complete: bool) -> None:
    own = [s for s in samples if s.tags.get("device") == name]
    [point] = [s for s in own if s.measurement == "device"]
    assert point.fields["up"] in (0, 1)
    for s in own:
        assert FORGED not in s.fields.values(), (name, s)
    seen = {}
    for s in own:
        if s.measurement != "interface":
            continue
        port = int(s.tags["if_index"])
        assert 1 <= port <= device.ports and port not in seen, s
        seen[port] = s
        for field in SOURCES:
            if field in s.fields:
                assert s.fields[field] in allowed(mib, field, port, device.version), (
                    field, port, s.fields)
    if not complete:
        return
    assert point.fields["up"] == 1, (name, point)
    assert set(seen) == set(range(1, device.ports + 1)), (name, sorted(seen))
    for port, s in seen.items():
        for field in ("oper_status", "admin_status", "in_errors", "out_errors",
                      "in_discards", "out_discards"):
            expect = allowed(mib, field, port, device.version)
            assert (field in s.fields) == bool(expect), (name, port, field, s.fields)


class Errors(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


async def poll_beside(device: Device) -> None:
    """Two cycles of the fuzzed device and of a healthy one, in one probe (one engine)."""
    def fault(req: Request, a: Answer) -> list[Answer]:
        out = [a]
        for kind in device.additive:
            out = [x for answer in out for x in ADDITIVE[kind](req, answer)]
        for kind, target in device.breaks:
            out = [x for answer in out for x in destructive(kind, target)(req, answer, bad)]
        return out

    async with (responding(served(device, 0), fault=fault) as bad,
                responding(switch_mib(3, octets=7)) as good):
        assert bad.transport is not None

        def framed(req: Request, a: Answer) -> list[Answer]:
            # the fuzzed device also answers every request sent to the healthy one, with
            # its exact request id, from its own address
            bad.transport.sendto(encode(req, forged(a)), req.source)
            return [a]

        good.fault = framed
        every = InterfaceSelection(include_down=True, include_loopback=True)
        # Silence costs a request timeout: short where a fault makes the device silent,
        # long enough elsewhere that a busy machine never makes a healthy answer late.
        wait = Seconds(0.3 if device.breaks else 2)
        checks = [SnmpCheck(name="fuzzed", address="127.0.0.1", port=bad.port,
                            version=device.version, interfaces=every, max_rows=50,
                            request_timeout=wait, retries=1, interval=Seconds(8)),
                  SnmpCheck(name="healthy", address="127.0.0.1", port=good.port,
                            interfaces=every, request_timeout=Seconds(2), retries=1,
                            interval=Seconds(8))]
        async with contextlib.AsyncExitStack() as stack:
            collect = await open_probes(checks, ProbeContext(MemoryStore(), stack))
            for cycle in range(2):
                bad.mib.values.update(served(device, cycle))
                good.mib.values.update(switch_mib(3, octets=7 + 1000 * cycle,
                                                  uptime_ticks=100_000 + 500 * cycle))
                results = await asyncio.gather(*(c() for c in collect.values()))
                samples = [s for r in results for s in r]
                check_cycle(samples, device, served(device, cycle), "fuzzed",
                            complete=not device.breaks)
                healthy = Device(3, 7 + 1000 * cycle, {}, (), (), "2c")
                check_cycle(samples, healthy, served(healthy, 0), "healthy", complete=True)


@budget(25)
@given(devices())
def test_whatever_a_device_sends_nothing_is_forged_lost_or_stopped(device):
    errors = Errors()
    logging.getLogger().addHandler(errors)
    try:
        asyncio.run(poll_beside(device))
    finally:
        logging.getLogger().removeHandler(errors)
    assert not errors.records, [r.getMessage() for r in errors.records]
