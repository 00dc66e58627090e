"""What follows from a valid config, worked out once: each check's site, address, interval,
timeout and uplink (with the capacity of each direction), the time zone, and where the
carry-out signing key and import journal are (beside the spool unless given).

Readers take these from `config.checks.all` and `config.tz`; none of them works out a
default site, an uplink's capacity or which interface is the uplink again.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from linkwatch.agent.config.calendar import zone_named
from linkwatch.agent.config.schema import Check, Checks, Config, Site, Uplink
from linkwatch.collector.kind import ProbeKind
from linkwatch.collector.snmp.check import SnmpCheck
from linkwatch.collector.snmp.profiles import Catalog


def resolve(config: Config, *, source: Path, probes: tuple[ProbeKind, ...],
            profiles: Catalog | None = None) -> Config:
    """`config` with its internal fields filled in; `config` must have passed validation.
    `profiles`: the device profiles its SNMP checks use (agent/config/profiles.py)."""
    by_kind = {p.kind: p for p in probes}
    checks = tuple(_check(by_kind[kind], spec, config, profiles)
                   for kind, spec in _written(config.checks))
    beside_spool = config.agent.spool.path.parent
    carry = dataclasses.replace(
        config.carry, signing_key=config.carry.signing_key or beside_spool / "signing.key",
        journal=config.carry.journal or beside_spool / "imports.jsonl")
    return dataclasses.replace(
        config, source=source, probes=probes, tz=zone_named(config.agent.timezone),
        checks=Checks(written=config.checks.written, all=checks), carry=carry)


def _written(checks: Checks) -> Iterator[tuple[str, Any]]:
    for kind, specs in checks.written.items():
        for spec in specs:
            yield kind, spec


def _check(probe: ProbeKind, spec: Any, config: Config, profiles: Catalog | None) -> Check:
    site = getattr(spec, "site", None) or config.agent.site
    uplink = _uplink(spec, site, config.site(site))
    if hasattr(spec, "site"):
        changes: dict[str, Any] = {"site": site}
        if isinstance(spec, SnmpCheck) and profiles is not None:
            changes["profiles"] = profiles
        if uplink is not None:
            # the probe computes utilisation with these: the resolved capacities
            changes |= {"capacity_down": uplink.capacity_bps["in"],
                        "capacity_up": uplink.capacity_bps["out"]}
        spec = dataclasses.replace(spec, **changes)
    interval = float(spec.interval)
    return Check(probe=probe, spec=spec, name=spec.name, site=site,
                 address=getattr(spec, "address", None), interval_s=interval,
                 timeout_s=float(getattr(spec, "timeout", None) or interval), uplink=uplink)


def _uplink(spec: Any, site_name: str, site: Site | None) -> Uplink | None:
    interface = getattr(spec, "uplink", None)
    if interface is None:
        return None
    contract = site.capacity if site is not None else None
    down = getattr(spec, "capacity_down", None) or (contract.down if contract else None)
    up = getattr(spec, "capacity_up", None) or (contract.up if contract else None)
    return Uplink(site=site_name, device=spec.name, interface=str(interface),
                  capacity_bps={"in": _float(down), "out": _float(up)})


def _float(value: float | None) -> float | None:
    return None if value is None else float(value)
