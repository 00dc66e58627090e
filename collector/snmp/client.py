"""SNMP requests over pysnmp's asyncio API: GET and GETBULK column walks by numeric OID.

One `SnmpSession` (engine, UDP transport and request slots) serves every device of the
process; a `DeviceClient` holds one device's address, credentials and limits. pysnmp is
imported here only, and this module only when probes are opened.

What a device sends is checked before it counts: an answer only from the address and port
the request went to (transport.py), a GET's values only for the OIDs asked for, a walk's
only for OIDs that follow the ones asked for, in order, and no more rows than `max_rows`.
"""

from __future__ import annotations

import asyncio
import ipaddress
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pyasn1.type import univ
from pysnmp.error import PySnmpError
from pysnmp.hlapi.v3arch.asyncio import (
    CommunityData,
    ContextData,
    ObjectIdentity,
    ObjectType,
    SnmpEngine,
    UsmUserData,
    bulk_cmd,
    get_cmd,
    next_cmd,
)
from pysnmp.hlapi.v3arch.asyncio import auth as _auth
from pysnmp.proto import errind, rfc1902, rfc1905

from linkwatch.collector.snmp.check import SnmpCheck
from linkwatch.collector.snmp.oids import Oid
from linkwatch.collector.snmp.transport import (
    GuardedUdp6Target,
    GuardedUdpTarget,
    random_ids,
    transport_of,
)

_AUTH = {
    "none": _auth.USM_AUTH_NONE,
    "md5": _auth.USM_AUTH_HMAC96_MD5,
    "sha": _auth.USM_AUTH_HMAC96_SHA,
    "sha224": _auth.USM_AUTH_HMAC128_SHA224,
    "sha256": _auth.USM_AUTH_HMAC192_SHA256,
    "sha384": _auth.USM_AUTH_HMAC256_SHA384,
    "sha512": _auth.USM_AUTH_HMAC384_SHA512,
}
_PRIV = {
    "none": _auth.USM_PRIV_NONE,
    "des": _auth.USM_PRIV_CBC56_DES,
    "aes": _auth.USM_PRIV_CFB128_AES,
    "aes128": _auth.USM_PRIV_CFB128_AES,
    "aes192": _auth.USM_PRIV_CFB192_AES,            # Reeder key extension (Cisco)
    "aes256": _auth.USM_PRIV_CFB256_AES,
    "aes192-blumenthal": _auth.USM_PRIV_CFB192_AES_BLUMENTHAL,   # net-snmp's AES-192
    "aes256-blumenthal": _auth.USM_PRIV_CFB256_AES_BLUMENTHAL,
}

_TOO_BIG = 1
_NO_SUCH_NAME = 2   # v1's answer for a GETNEXT past the end of the MIB
_REFUSED = (6, 16)  # noAccess, authorizationError: the device's access control says no


class SnmpError(Exception):
    """The device did not answer, or answered with an error; the message says which."""


class Counter32(int):
    """A value the device typed Counter32 (may wrap at 2^32)."""


class Counter64(int):
    """A value the device typed Counter64."""


Value = int | bytes | str


def _convert(value: Any) -> Value | None:
    """pysnmp value → int (Counter32/Counter64 marked), bytes or str; None for no value.

    Checked against pyasn1's base types: an agent's INTEGER may decode as plain univ.Integer.
    """
    cls = value.__class__
    if isinstance(value, univ.Null):
        return None   # (pyasn1's Null is an OctetString)
    if cls is rfc1902.Counter64:
        return Counter64(value)
    if cls is rfc1902.Counter32:
        return Counter32(value)
    if isinstance(value, univ.Integer):
        return int(value)
    if isinstance(value, rfc1902.IpAddress):
        octets = value.asOctets()
        # an IpAddress of another length than 4 is malformed: no value
        return str(ipaddress.IPv4Address(octets)) if len(octets) == 4 else None
    if isinstance(value, univ.OctetString):
        return value.asOctets()
    if isinstance(value, univ.ObjectIdentifier):
        return ".".join(map(str, value))
    return None   # noSuchObject, noSuchInstance, endOfMibView, Null


def _ends(value: Any) -> bool:
    """endOfMibView: nothing after this OID. (A walk's noSuchObject or noSuchInstance, which
    RFC 3416 leaves to GET, or a NULL, is a row with no value: the walk goes on.)"""
    return isinstance(value, rfc1905.EndOfMibView)


# What a GETNEXT/GETBULK gave for one name: the OID, its value (None when unusable), and
# whether the device said there is nothing more.
Row = tuple[Oid, Value | None, bool]
_END: Row = ((), None, True)


def _reason(err: Any, check: SnmpCheck) -> str:
    """What a pysnmp error indication means for the person reading the log."""
    user = check.v3.username if check.v3 else ""
    if isinstance(err, errind.RequestTimedOut):
        tries = check.retries + 1
        if check.version != "3":
            why = ("wrong community, an access list that leaves out this host, or the "
                   "device is off or unreachable")
        elif check.v3 is not None and check.v3.priv_protocol != "none":
            why = ("wrong priv_key or priv_protocol (the device cannot decrypt the request "
                   "and says nothing), or the device is off, unreachable or drops this "
                   "host's requests")
        else:
            why = "the device is off or unreachable, or drops this host's requests"
        return (f"no answer within {float(check.request_timeout):g} s × {tries} "
                f"{'try' if tries == 1 else 'tries'} ({why})")
    if isinstance(err, errind.WrongDigest):
        return (f"wrong auth_key or auth_protocol for v3 user {user!r} "
                "(the device reports a wrong digest)")
    if isinstance(err, errind.UnknownUserName):
        return f"the device has no v3 user {user!r}"
    if isinstance(err, errind.DecryptionError):
        return (f"wrong priv_key or priv_protocol for v3 user {user!r} "
                "(its answer could not be decrypted)")
    if isinstance(err, errind.UnsupportedSecurityLevel):
        return (f"v3 user {user!r} is not allowed this security level (auth_protocol/"
                "priv_protocol differ from the device's)")
    if isinstance(err, errind.NotInTimeWindow):
        return "the device's SNMPv3 engine time does not match (not in time window)"
    return str(err)


class SnmpSession:
    """The process's SNMP engine and its request slots; close() releases socket and timers.

    `max_in_flight` requests may wait for an answer at once, over all devices. A device
    holds a slot for one request at a time, never for its whole cycle, and slots are
    handed out in turn: a device that answers slowly or without end delays another
    device's next request by at most one of its own.
    """

    def __init__(self, max_in_flight: int = 32) -> None:
        self.engine = SnmpEngine()
        random_ids(self.engine)
        self.max_in_flight = max_in_flight
        self.slots = asyncio.Semaphore(max_in_flight)

    def close(self) -> None:
        self.engine.close_dispatcher()

    async def client(self, check: SnmpCheck) -> DeviceClient:
        try:
            is_v6 = ipaddress.ip_address(check.address).version == 6
        except ValueError:
            is_v6 = False
        target_cls = GuardedUdp6Target if is_v6 else GuardedUdpTarget
        # create() resolves the name once; a name that does not resolve raises here.
        try:
            target = await target_cls.create((check.address, check.port),
                                             timeout=float(check.request_timeout),
                                             retries=check.retries)
        except PySnmpError as e:
            raise SnmpError(f"cannot resolve {check.address!r}: {e}") from e
        return DeviceClient(self, _auth_data(check), target, check, v6=is_v6)


def _auth_data(check: SnmpCheck) -> CommunityData | UsmUserData:
    if check.version in ("1", "2c"):
        return CommunityData(check.community.reveal(), mpModel=0 if check.version == "1" else 1)
    user = check.v3
    assert user is not None   # SnmpCheck refuses version 3 without it
    return UsmUserData(
        user.username,
        authKey=user.auth_key.reveal() if user.auth_key else None,
        privKey=user.priv_key.reveal() if user.priv_key else None,
        authProtocol=_AUTH[user.auth_protocol],
        privProtocol=_PRIV[user.priv_protocol],
    )


@dataclass
class Walk:
    """What a walk returned: scalars by OID, and per column its rows by index suffix."""

    scalars: dict[Oid, Value]
    columns: dict[Oid, dict[Oid, Value]]


@dataclass
class Effort:
    """One cycle's time: waiting for a request slot, and with requests out to the device."""

    waited_s: float = 0.0
    device_s: float = 0.0
    queued_at: float | None = None   # monotonic time this device began to wait, if it is
    in_request: bool = False   # a request to the device is out right now
    stray: int = 0             # varbinds ignored: not asked for, or out of order
    replaced: list[tuple[str, str]] = field(default_factory=list)  # values nulled: (OID, why)

    def waited(self, now: float) -> float:
        """Time spent waiting for a slot, the wait going on at `now` included."""
        return self.waited_s + (now - self.queued_at if self.queued_at is not None else 0.0)


class DeviceClient:
    def __init__(self, session: SnmpSession, auth: CommunityData | UsmUserData, target: Any,
                 check: SnmpCheck, *, v6: bool = False) -> None:
        self._session = session
        self._engine = session.engine
        self._auth = auth
        self._target = target
        self._check = check
        self._peer = (ipaddress.ip_address(target.transport_address[0].split("%")[0]),
                      int(target.transport_address[1]))
        self._v6 = v6
        self._context = ContextData(contextName=check.v3.context_name if check.v3 else "")
        self._v1 = check.version == "1"
        self.max_repetitions = check.max_repetitions
        self.max_rows = check.max_rows
        self.effort = Effort()

    async def _request(self, command: Callable[..., Awaitable[Any]], *args: Any,
                       ) -> tuple[Any, Any, Any, Any]:
        """One request in one slot; an error indication becomes SnmpError with its reason."""
        effort = self.effort
        effort.queued_at = queued = time.monotonic()
        async with self._session.slots:
            sent = time.monotonic()
            effort.waited_s += sent - queued
            effort.queued_at = None
            effort.in_request = True
            transport = transport_of(self._engine, self._v6)
            heard = transport.heard.get(self._peer, 0) if transport else 0
            garbled = self._parse_errors()
            try:
                err, status, index, vbs = await command(
                    self._engine, self._auth, self._target, self._context, *args,
                    lookupMib=False)
            finally:
                effort.device_s += time.monotonic() - sent
            effort.in_request = False   # (still True when the cycle's time ran out here)
        transport = transport or transport_of(self._engine, self._v6)
        if transport is not None:
            effort.replaced += transport.replaced.pop(self._peer, [])
        if err:
            # Heard from, and pysnmp failed to parse something meanwhile: its answer.
            unreadable = (transport is not None and self._parse_errors() > garbled
                          and transport.heard.get(self._peer, 0) > heard)
            raise SnmpError(self._explain(err, transport, unreadable))
        if status and int(status) in _REFUSED:
            raise SnmpError(
                f"the device refused the request ({status.prettyPrint()}): the community or "
                "v3 user may not read these OIDs, or not at this security level (check the "
                "device's access list or view, or auth_protocol/priv_protocol)")
        return err, status, index, vbs

    def _parse_errors(self) -> int:
        """The engine's count of messages it could not parse (snmpInASNParseErrs)."""
        (counter,) = self._engine.get_mib_builder().import_symbols(
            "__SNMPv2-MIB", "snmpInASNParseErrs")
        return int(counter.syntax)

    def _explain(self, err: Any, transport: Any, unreadable: bool) -> str:
        reason = _reason(err, self._check)
        if not isinstance(err, errind.RequestTimedOut) or transport is None:
            return reason
        if unreadable:
            reason = ("the device answered, but nothing it sent could be read (a malformed "
                      "message, or a value of a type or range SNMP does not have)")
        source = transport.misdirected.pop(self._peer, None)
        if source is not None:
            reason += (f"; answers came from {source[0]}:{source[1]} instead and were "
                       "ignored (poll the address the device answers from)")
        return reason

    async def get(self, oids: Sequence[Oid], *, batch: int = 32) -> dict[Oid, Value]:
        """GET these instances; those the device lacks are absent from the answer, and so
        is anything it sends for an OID not asked for."""
        found: dict[Oid, Value] = {}
        for start in range(0, len(oids), batch):
            chunk = oids[start:start + batch]
            _, status, index, vbs = await self._request(
                get_cmd, *(ObjectType(ObjectIdentity(o)) for o in chunk))
            if status:
                if self._v1 and int(status) == _NO_SUCH_NAME and len(chunk) > 1:
                    # v1 fails the whole GET for one missing instance: ask one by one.
                    for oid in chunk:
                        found.update(await self.get([oid], batch=1))
                    continue
                if self._v1 and int(status) == _NO_SUCH_NAME:
                    continue
                raise SnmpError(f"{status.prettyPrint()} at varbind {int(index)}")
            # RFC 3416 4.2.1: the answer holds the requested names, in the request's order.
            for i, (name, value) in enumerate(vbs):
                oid = tuple(name)
                if i >= len(chunk) or oid != chunk[i]:
                    self.effort.stray += 1
                    continue
                converted = _convert(value)
                if converted is not None:
                    found[oid] = converted
        return found

    async def walk(self, columns: Sequence[Oid], scalars: Sequence[Oid] = ()) -> Walk:
        """Walk several table columns side by side (GETBULK; GETNEXT on v1), and read
        scalars (given without the trailing .0) in the first request.

        A column ends at the first OID outside it or not after the previous one; a column
        that passes `max_rows` rows raises SnmpError (a device that answers without end)."""
        result = Walk({}, {c: {} for c in columns})
        pending: dict[Oid, Oid] = {c: c for c in columns}
        first = True
        while pending or first:
            extra = list(scalars) if first else []
            first = False
            cols = list(pending)
            names = [*extra, *pending.values()]
            if not names:
                break
            rows = await self._next_rows(names, len(extra))
            for scalar, (oid, value, _) in zip(extra, rows[:len(extra)], strict=False):
                if oid == (*scalar, 0) and value is not None:
                    result.scalars[scalar] = value
            done: set[Oid] = set()
            width = len(cols)
            for i, (oid, value, ended) in enumerate(rows[len(extra):]):
                col = cols[i % width]
                if col in done:
                    continue
                n = len(col)
                if ended or oid[:n] != col or oid <= pending[col]:
                    done.add(col)   # past the column's end (or a device that loops)
                    if not ended and oid[:n] == col:
                        self.effort.stray += 1   # in the column, but not after the last row
                    continue
                pending[col] = oid
                if value is None:
                    continue        # a row whose value was unusable: the walk goes on
                rows_of = result.columns[col]
                rows_of[oid[n:]] = value
                if len(rows_of) > self.max_rows:
                    raise SnmpError(
                        f"the walk of .{'.'.join(map(str, col))} passed max_rows "
                        f"({self.max_rows}) rows: the device answers without end, or the "
                        "table is bigger than max_rows allows")
            if len(rows) <= len(extra):
                done.update(cols)   # an empty answer: nothing more to learn
            for col in done:
                pending.pop(col, None)
        return result

    async def _next_rows(self, names: list[Oid], non_repeaters: int) -> list[Row]:
        if self._v1:
            return await self._next_v1(names)
        reps = self.max_repetitions
        while True:
            _, status, index, vbs = await self._request(
                bulk_cmd, non_repeaters, reps if len(names) > non_repeaters else 0,
                *(ObjectType(ObjectIdentity(o)) for o in names))
            if status and int(status) == _TOO_BIG and reps > 1:
                # The answer would not fit the device's message size: ask for fewer rows.
                reps = max(1, reps // 2)
                self.max_repetitions = reps
                continue
            if status:
                raise SnmpError(f"{status.prettyPrint()} at varbind {int(index)}")
            # More varbinds than asked for (non-repeaters + repetitions × columns) are not
            # part of the answer.
            limit = non_repeaters + max(reps, 1) * (len(names) - non_repeaters)
            if len(vbs) > limit:
                self.effort.stray += len(vbs) - limit
            return [(tuple(name), _convert(value), _ends(value)) for name, value in vbs[:limit]]

    async def _next_v1(self, names: list[Oid]) -> list[Row]:
        """GETNEXT for v1, where one varbind past the MIB's end fails the whole request."""
        live = list(range(len(names)))
        while live:
            _, status, index, vbs = await self._request(
                next_cmd, *(ObjectType(ObjectIdentity(names[i])) for i in live))
            if status and int(status) == _NO_SUCH_NAME and 1 <= int(index) <= len(live):
                live.pop(int(index) - 1)
                continue
            if status:
                raise SnmpError(f"{status.prettyPrint()} at varbind {int(index)}")
            rows: list[Row] = [_END] * len(names)
            for i, (name, value) in zip(live, vbs, strict=False):
                rows[i] = (tuple(name), _convert(value), _ends(value))
            return rows
        return [_END] * len(names)
