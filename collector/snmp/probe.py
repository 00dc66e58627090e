"""The SNMP probe: `open_probes` turns the configured checks into Collect functions."""

from __future__ import annotations

from collections.abc import Sequence

from linkwatch.collector.sample import Collect, ProbeContext
from linkwatch.collector.snmp.check import SnmpCheck


async def open_probes(checks: Sequence[SnmpCheck], ctx: ProbeContext) -> dict[str, Collect]:
    """One Collect per check name, sharing one SNMP engine and its request slots.

    The engine is closed through `ctx.exit_stack`. Each Collect runs one cycle and returns
    that cycle's samples; a device that does not answer yields `device` with up=0.
    """
    if not checks:
        return {}
    # Imported here: pysnmp costs ~0.35 s and 25 MB, paid only when SNMP is configured.
    from linkwatch.collector.snmp.client import SnmpSession
    from linkwatch.collector.snmp.device import Device

    names = [c.name for c in checks]
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise ValueError(f"snmp checks need distinct names; repeated: {', '.join(dup)}")
    # The limit is per process: the smallest any check asks for.
    session = SnmpSession(max_in_flight=min(c.max_concurrent for c in checks))
    ctx.exit_stack.callback(session.close)
    return {c.name: Device(c, session, ctx.store, ctx.time_ns).collect for c in checks}
