"""A scriptable SNMP v1/v2c agent on loopback, its messages built and read with scapy.

No real device misbehaves on demand, so this one does: by default it answers GET, GETNEXT
and GETBULK from a table of OIDs as RFC 3416 says; given a `Fault`, it answers as a broken
or hostile device would: wrong types, huge integers, noSuchObject, endOfMibView, OIDs out of
order or never asked for, answers from another port, for another request id, late, never,
or without end. The tests and `bench/fuzz_snmp.py` poll it with the real probe.

    mib = {(1, 3, 6, 1, 2, 1, 1, 3, 0): ASN1_TIME_TICKS(100)}
    async with responding(mib, community="public") as agent:
        ...   # poll 127.0.0.1:agent.port; agent.requests lists what arrived
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import functools
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from scapy.asn1.asn1 import ASN1_INTEGER, ASN1_NULL, ASN1_OID
from scapy.layers.snmp import SNMP, SNMPbulk, SNMPget, SNMPnext

Oid = tuple[int, ...]

# Varbind exceptions (RFC 3416 section 3): a value slot may hold one of these instead.
NO_SUCH_OBJECT = "noSuchObject"
NO_SUCH_INSTANCE = "noSuchInstance"
END_OF_MIB_VIEW = "endOfMibView"
_EXCEPTIONS = (NO_SUCH_OBJECT, NO_SUCH_INSTANCE, END_OF_MIB_VIEW)

MAX_VARBINDS = 1000     # what one answer holds at most, as a device's message size would


@dataclass(frozen=True)
class Request:
    """One request as it arrived."""

    version: int                # 0 (v1) or 1 (v2c)
    community: bytes
    kind: str                   # get, next, bulk
    request_id: int
    oids: tuple[Oid, ...]
    non_repeaters: int = 0
    max_repetitions: int = 0
    source: tuple[str, int] = ("", 0)


@dataclass(frozen=True)
class RawValue:
    """A varbind value given as its BER bytes (tag, length, content), for values scapy will
    not build (an IpAddress of five octets, a BOOLEAN, a truncated INTEGER)."""

    tlv: bytes


@dataclass(frozen=True)
class Answer:
    """One datagram to send back. `raw`, when given, is sent as is instead."""

    request_id: int
    varbinds: tuple[tuple[Oid, Any], ...] = ()
    error_status: int = 0
    error_index: int = 0
    from_other_port: bool = False
    delay_s: float = 0.0
    raw: bytes | None = None


# What a device does with a request, given the answer a correct agent would send: the
# datagrams it sends instead (none: it stays silent).
Fault = Callable[[Request, Answer], list[Answer]]


def oid_of(text: str) -> Oid:
    return tuple(int(p) for p in text.strip(".").split("."))


class Mib:
    """A device's OIDs in lexicographic order, for GET and GETNEXT."""

    def __init__(self, values: Mapping[Oid, Any]) -> None:
        self.values = dict(values)
        self.order = sorted(self.values)

    def get(self, oid: Oid) -> Any:
        return self.values.get(oid, NO_SUCH_INSTANCE)

    def next(self, oid: Oid) -> tuple[Oid, Any]:
        i = bisect.bisect_right(self.order, oid)
        if i == len(self.order):
            return oid, END_OF_MIB_VIEW
        found = self.order[i]
        return found, self.values[found]


class EndlessMib(Mib):
    """A device whose tables never end: in every column of each table entry of `tables`,
    row after row, for ever (its other OIDs as `values` has them)."""

    def __init__(self, values: Mapping[Oid, Any], tables: tuple[Oid, ...]) -> None:
        super().__init__(values)
        self.tables = tables

    def next(self, oid: Oid) -> tuple[Oid, Any]:
        from scapy.asn1.asn1 import ASN1_COUNTER64

        for entry in self.tables:
            n = len(entry) + 1                   # a column's OID length
            if oid[:len(entry)] == entry and len(oid) >= n:
                row = oid[n] + 1 if len(oid) > n else 1
                return (*oid[:n], row), ASN1_COUNTER64(row)
        return super().next(oid)


def correct_answer(mib: Mib, req: Request) -> Answer:
    """What RFC 3416 says an agent answers."""
    if req.kind == "get":
        return Answer(req.request_id, tuple((o, mib.get(o)) for o in req.oids))
    if req.kind == "next":
        return Answer(req.request_id, tuple(mib.next(o) for o in req.oids))
    n = max(0, min(req.non_repeaters, len(req.oids)))
    out = [mib.next(o) for o in req.oids[:n]]
    current = list(req.oids[n:])
    for _ in range(max(0, req.max_repetitions) if current else 0):
        row = [mib.next(o) for o in current]
        out += row
        current = [o for o, _ in row]
        if all(v == END_OF_MIB_VIEW for _, v in row) or len(out) >= MAX_VARBINDS:
            break
    return Answer(req.request_id, tuple(out[:MAX_VARBINDS]))


def parse_request(data: bytes, source: tuple[str, int]) -> Request | None:
    try:
        msg = SNMP(data)
        pdu = msg.PDU
        kinds = {SNMPget: "get", SNMPnext: "next", SNMPbulk: "bulk"}
        kind = kinds.get(type(pdu))
        if kind is None:
            return None
        oids = tuple(oid_of(vb.oid.val) for vb in pdu.varbindlist)
        extra = {}
        if kind == "bulk":
            extra = {"non_repeaters": int(pdu.non_repeaters.val),
                     "max_repetitions": int(pdu.max_repetitions.val)}
        return Request(int(msg.version.val), bytes(msg.community.val), kind,
                       int(pdu.id.val), oids, source=source, **extra)
    except Exception:   # anything unreadable is not a request this agent answers
        return None


def _tlv(tag: int, content: bytes) -> bytes:
    n = len(content)
    length = bytes([n]) if n < 0x80 else bytes([0x82]) + n.to_bytes(2, "big")
    return bytes([tag]) + length + content


@functools.lru_cache(maxsize=65536)
def _oid_tlv(oid: Oid) -> bytes:
    return bytes(ASN1_OID(".".join(map(str, oid))))   # scapy resolves names: slow, cached


def encode(req: Request, answer: Answer) -> bytes:
    """The answer as a datagram: a GetResponse-PDU (RFC 3416), its OIDs and values BER-encoded
    by scapy (raw values and varbind exceptions as given)."""
    if answer.raw is not None:
        return answer.raw
    binds = b""
    for oid, value in answer.varbinds:
        if isinstance(value, RawValue):
            raw = value.tlv
        elif isinstance(value, str) and value in _EXCEPTIONS:
            raw = b"\x05\x00" if req.version == 0 else {
                NO_SUCH_OBJECT: b"\x80\x00", NO_SUCH_INSTANCE: b"\x81\x00",
                END_OF_MIB_VIEW: b"\x82\x00"}[value]
        else:
            raw = bytes(value)
        binds += _tlv(0x30, _oid_tlv(oid) + raw)
    integers = b"".join(bytes(ASN1_INTEGER(n)) for n in (
        answer.request_id, answer.error_status, answer.error_index))
    pdu = _tlv(0xA2, integers + _tlv(0x30, binds))
    return _tlv(0x30, bytes(ASN1_INTEGER(req.version)) + _tlv(0x04, req.community) + pdu)


def v1_answer(req: Request, answer: Answer) -> Answer:
    """v1 has no varbind exceptions: the first one fails the request with noSuchName."""
    for i, (_, value) in enumerate(answer.varbinds):
        if isinstance(value, str) and value in _EXCEPTIONS:
            return replace(answer, varbinds=tuple((o, ASN1_NULL(0)) for o in req.oids),
                           error_status=2, error_index=min(i, len(req.oids) - 1) + 1)
    return answer


@dataclass
class Responder(asyncio.DatagramProtocol):
    mib: Mib
    community: bytes
    fault: Fault | None = None
    requests: list[Request] = field(default_factory=list)
    transport: asyncio.DatagramTransport | None = None
    other: asyncio.DatagramTransport | None = None
    pending: set[asyncio.Task] = field(default_factory=set)

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        req = parse_request(data, addr)
        if req is None or req.community != self.community:
            return   # as a device does: a wrong community gets no answer at all
        self.requests.append(req)
        answer = correct_answer(self.mib, req)
        if req.version == 0:
            answer = v1_answer(req, answer)
        answers = self.fault(req, answer) if self.fault else [answer]
        for a in answers:
            task = asyncio.ensure_future(self._send(req, a, addr))
            self.pending.add(task)
            task.add_done_callback(self.pending.discard)

    async def _send(self, req: Request, answer: Answer, addr: tuple[str, int]) -> None:
        if answer.delay_s:
            await asyncio.sleep(answer.delay_s)
        via = self.other if answer.from_other_port else self.transport
        if via is not None and not via.is_closing():
            via.sendto(encode(req, answer), addr)

    @property
    def port(self) -> int:
        assert self.transport is not None
        return self.transport.get_extra_info("sockname")[1]


@contextlib.asynccontextmanager
async def responding(values: Mapping[Oid, Any] | Mib, *, community: str = "public",
                     fault: Fault | None = None, host: str = "127.0.0.1",
                     ) -> AsyncIterator[Responder]:
    """A responder on a free UDP port of `host` (and a second socket for answers from
    another port), closed on exit."""
    loop = asyncio.get_running_loop()
    mib = values if isinstance(values, Mib) else Mib(values)
    responder = Responder(mib, community.encode(), fault)
    await loop.create_datagram_endpoint(lambda: responder, local_addr=(host, 0))
    other, _ = await loop.create_datagram_endpoint(asyncio.DatagramProtocol,
                                                  local_addr=(host, 0))
    responder.other = other
    try:
        yield responder
    finally:
        for task in list(responder.pending):
            task.cancel()
        other.close()
        if responder.transport is not None:
            responder.transport.close()


def switch_mib(ports: int = 4, *, uptime_ticks: int = 100_000, octets: int = 1_000_000,
               ) -> dict[Oid, Any]:
    """A small switch: sysUpTime, ifTableLastChange and `ports` interfaces, all up, with
    64-bit counters (port i has `octets * i` in and out)."""
    from scapy.asn1.asn1 import (
        ASN1_COUNTER32,
        ASN1_COUNTER64,
        ASN1_GAUGE32,
        ASN1_INTEGER,
        ASN1_STRING,
        ASN1_TIME_TICKS,
    )

    mib: dict[Oid, Any] = {
        (1, 3, 6, 1, 2, 1, 1, 3, 0): ASN1_TIME_TICKS(uptime_ticks),
        (1, 3, 6, 1, 2, 1, 31, 1, 5, 0): ASN1_TIME_TICKS(0),
    }
    if_entry, ifx_entry = (1, 3, 6, 1, 2, 1, 2, 2, 1), (1, 3, 6, 1, 2, 1, 31, 1, 1, 1)
    for i in range(1, ports + 1):
        mib |= {
            (*if_entry, 2, i): ASN1_STRING(f"port{i}".encode()),
            (*if_entry, 3, i): ASN1_INTEGER(6),
            (*if_entry, 5, i): ASN1_GAUGE32(1_000_000_000),
            (*if_entry, 7, i): ASN1_INTEGER(1),
            (*if_entry, 8, i): ASN1_INTEGER(1),
            (*if_entry, 10, i): ASN1_COUNTER32((octets * i) % 2**32),
            (*if_entry, 13, i): ASN1_COUNTER32(0),
            (*if_entry, 14, i): ASN1_COUNTER32(i),
            (*if_entry, 16, i): ASN1_COUNTER32((octets * i) % 2**32),
            (*if_entry, 19, i): ASN1_COUNTER32(0),
            (*if_entry, 20, i): ASN1_COUNTER32(2 * i),
            (*ifx_entry, 1, i): ASN1_STRING(f"port{i}".encode()),
            (*ifx_entry, 6, i): ASN1_COUNTER64(octets * i),
            (*ifx_entry, 10, i): ASN1_COUNTER64(octets * i),
            (*ifx_entry, 15, i): ASN1_GAUGE32(1000),
            (*ifx_entry, 18, i): ASN1_STRING(f"link {i}".encode()),
        }
    return mib
