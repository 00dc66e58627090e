"""Who a discovered address is: SNMP sysName, sysDescr and sysObjectID, if it answers."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

SYS_DESCR = "1.3.6.1.2.1.1.1.0"
SYS_OBJECT_ID = "1.3.6.1.2.1.1.2.0"
SYS_NAME = "1.3.6.1.2.1.1.5.0"


@dataclass(frozen=True, slots=True)
class Identity:
    address: str
    community: str      # the one it answered to
    sys_name: str | None
    sys_descr: str | None
    sys_object_id: str | None


def _text(value) -> str | None:
    from pyasn1.type import univ

    if isinstance(value, univ.OctetString):
        return value.asOctets().decode("utf-8", "replace").strip() or None
    if isinstance(value, univ.ObjectIdentifier):
        return ".".join(map(str, value))
    return None  # noSuchObject, noSuchInstance, endOfMibView


async def identify(addresses: Sequence[str], communities: Sequence[str], *, port: int = 161,
                   timeout_s: float = 1.0, max_concurrent: int = 32) -> dict[str, Identity]:
    """SNMPv2c GET of the system group of each address, trying each community in turn;
    the addresses that answered none are absent."""
    from pysnmp.hlapi.v3arch.asyncio import (
        CommunityData,
        ContextData,
        ObjectIdentity,
        ObjectType,
        SnmpEngine,
        get_cmd,
    )

    from linkwatch.collector.snmp.transport import GuardedUdpTarget, random_ids

    # As the SNMP probe: an answer counts only from the address asked, and ids cannot be
    # guessed, so no host can make another address look like an SNMP device.
    engine = SnmpEngine()
    random_ids(engine)
    gate = asyncio.Semaphore(max_concurrent)
    asked = (SYS_NAME, SYS_DESCR, SYS_OBJECT_ID)

    async def ask(address: str) -> Identity | None:
        async with gate:
            target = await GuardedUdpTarget.create((address, port), timeout=timeout_s,
                                                   retries=0)
            for community in communities:
                error, status, _index, varbinds = await get_cmd(
                    engine, CommunityData(community, mpModel=1), target, ContextData(),
                    *(ObjectType(ObjectIdentity(o)) for o in asked), lookupMib=False)
                if error or status:
                    continue  # a timeout (wrong community, or no agent) or an SNMP error
                # a value counts only under the OID it was asked for
                got = {".".join(map(str, name)): value for name, value in varbinds}
                values = [_text(got[o]) if o in got else None for o in asked]
                return Identity(address, community, *values)
        return None

    try:
        found = await asyncio.gather(*(ask(a) for a in addresses))
    finally:
        engine.close_dispatcher()
    return {i.address: i for i in found if i is not None}
