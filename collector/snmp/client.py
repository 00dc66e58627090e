"""SNMP requests over pysnmp's asyncio API: GET and GETBULK column walks by numeric OID.

One `SnmpSession` (engine and UDP transport) serves every device of the process; a
`DeviceClient` holds one device's address, credentials and limits. pysnmp is imported here
only, and this module only when probes are opened.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pyasn1.type import univ
from pysnmp.error import PySnmpError
from pysnmp.hlapi.v3arch.asyncio import (
    CommunityData,
    ContextData,
    ObjectIdentity,
    ObjectType,
    SnmpEngine,
    Udp6TransportTarget,
    UdpTransportTarget,
    UsmUserData,
    bulk_cmd,
    get_cmd,
    next_cmd,
)
from pysnmp.hlapi.v3arch.asyncio import auth as _auth
from pysnmp.proto import rfc1902

from linkwatch.collector.snmp.check import SnmpCheck
from linkwatch.collector.snmp.oids import Oid

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
    "aes192": _auth.USM_PRIV_CFB192_AES,
    "aes256": _auth.USM_PRIV_CFB256_AES,
}

_TOO_BIG = 1
_NO_SUCH_NAME = 2   # v1's answer for a GETNEXT past the end of the MIB


class SnmpError(Exception):
    """The device did not answer, or answered with an error."""


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
    if cls is rfc1902.Counter64:
        return Counter64(value)
    if cls is rfc1902.Counter32:
        return Counter32(value)
    if isinstance(value, univ.Integer):
        return int(value)
    if isinstance(value, rfc1902.IpAddress):
        return str(ipaddress.IPv4Address(value.asOctets()))
    if isinstance(value, univ.OctetString):
        return value.asOctets()
    if isinstance(value, univ.ObjectIdentifier):
        return ".".join(map(str, value))
    return None   # noSuchObject, noSuchInstance, endOfMibView, Null


class SnmpSession:
    """The process's SNMP engine; close() releases its socket and timers."""

    def __init__(self) -> None:
        self.engine = SnmpEngine()

    def close(self) -> None:
        self.engine.close_dispatcher()

    async def client(self, check: SnmpCheck) -> DeviceClient:
        try:
            is_v6 = ipaddress.ip_address(check.address).version == 6
        except ValueError:
            is_v6 = False
        target_cls = Udp6TransportTarget if is_v6 else UdpTransportTarget
        # create() resolves the name once; a name that does not resolve raises here.
        try:
            target = await target_cls.create((check.address, check.port),
                                             timeout=float(check.request_timeout),
                                             retries=check.retries)
        except PySnmpError as e:
            raise SnmpError(f"cannot resolve {check.address!r}: {e}") from e
        return DeviceClient(self.engine, _auth_data(check), target, check)


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


class DeviceClient:
    def __init__(self, engine: SnmpEngine, auth: CommunityData | UsmUserData, target: Any,
                 check: SnmpCheck) -> None:
        self._engine = engine
        self._auth = auth
        self._target = target
        self._context = ContextData(contextName=check.v3.context_name if check.v3 else "")
        self._v1 = check.version == "1"
        self.max_repetitions = check.max_repetitions

    async def get(self, oids: Sequence[Oid], *, batch: int = 32) -> dict[Oid, Value]:
        """GET these instances; those the device lacks are absent from the answer."""
        found: dict[Oid, Value] = {}
        for start in range(0, len(oids), batch):
            chunk = oids[start:start + batch]
            err, status, index, vbs = await get_cmd(
                self._engine, self._auth, self._target, self._context,
                *(ObjectType(ObjectIdentity(o)) for o in chunk), lookupMib=False)
            if err:
                raise SnmpError(str(err))
            if status:
                if self._v1 and int(status) == _NO_SUCH_NAME and len(chunk) > 1:
                    # v1 fails the whole GET for one missing instance: ask one by one.
                    for oid in chunk:
                        found.update(await self.get([oid], batch=1))
                    continue
                if self._v1 and int(status) == _NO_SUCH_NAME:
                    continue
                raise SnmpError(f"{status.prettyPrint()} at varbind {int(index)}")
            for name, value in vbs:
                converted = _convert(value)
                if converted is not None:
                    found[tuple(name)] = converted
        return found

    async def walk(self, columns: Sequence[Oid], scalars: Sequence[Oid] = ()) -> Walk:
        """Walk several table columns side by side (GETBULK; GETNEXT on v1), and read
        scalars (given without the trailing .0) in the first request."""
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
            for scalar, (oid, value) in zip(extra, rows[:len(extra)], strict=False):
                if oid == (*scalar, 0) and value is not None:
                    result.scalars[scalar] = value
            done: set[Oid] = set()
            width = len(cols)
            for i, (oid, value) in enumerate(rows[len(extra):]):
                col = cols[i % width]
                if col in done:
                    continue
                n = len(col)
                if (value is None or oid[:n] != col or oid <= pending[col]):
                    done.add(col)   # past the column's end (or a device that loops)
                    continue
                result.columns[col][oid[n:]] = value
                pending[col] = oid
            if len(rows) <= len(extra):
                done.update(cols)   # an empty answer: nothing more to learn
            for col in done:
                pending.pop(col, None)
        return result

    async def _next_rows(self, names: list[Oid], non_repeaters: int,
                         ) -> list[tuple[Oid, Value | None]]:
        if self._v1:
            return await self._next_v1(names)
        reps = self.max_repetitions
        while True:
            err, status, index, vbs = await bulk_cmd(
                self._engine, self._auth, self._target, self._context, non_repeaters,
                reps if len(names) > non_repeaters else 0,
                *(ObjectType(ObjectIdentity(o)) for o in names), lookupMib=False)
            if err:
                raise SnmpError(str(err))
            if status and int(status) == _TOO_BIG and reps > 1:
                # The answer would not fit the device's message size: ask for fewer rows.
                reps = max(1, reps // 2)
                self.max_repetitions = reps
                continue
            if status:
                raise SnmpError(f"{status.prettyPrint()} at varbind {int(index)}")
            return [(tuple(name), _convert(value)) for name, value in vbs]

    async def _next_v1(self, names: list[Oid]) -> list[tuple[Oid, Value | None]]:
        """GETNEXT for v1, where one varbind past the MIB's end fails the whole request."""
        live = list(range(len(names)))
        while live:
            err, status, index, vbs = await next_cmd(
                self._engine, self._auth, self._target, self._context,
                *(ObjectType(ObjectIdentity(names[i])) for i in live), lookupMib=False)
            if err:
                raise SnmpError(str(err))
            if status and int(status) == _NO_SUCH_NAME and int(index) >= 1:
                live.pop(int(index) - 1)
                continue
            if status:
                raise SnmpError(f"{status.prettyPrint()} at varbind {int(index)}")
            rows: list[tuple[Oid, Value | None]] = [((), None)] * len(names)
            for i, (name, value) in zip(live, vbs, strict=False):
                rows[i] = (tuple(name), _convert(value))
            return rows
        return [((), None)] * len(names)
