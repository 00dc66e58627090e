"""Config YAML for what discovery found: a ping check per host, an snmp check per agent
(with the device profile its sysObjectID selects)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence

from linkwatch.collector.path.arp import Neighbour
from linkwatch.collector.path.identify import Identity
from linkwatch.collector.snmp.profiles import Catalog


def profile_of(identity: Identity, catalog: Catalog) -> str | None:
    """The profile `profile: auto` would give the device (the one its sysObjectID selects;
    what that one includes comes with it)."""
    chosen = catalog.choose("auto", identity.sys_object_id)
    return chosen[0].name if chosen else None


def check_name(address: str, identity: Identity | None) -> str:
    """A check name: the device's sysName made config-safe, else `host-10-0-5-7`."""
    if identity is not None and identity.sys_name:
        name = re.sub(r"[^a-z0-9_.-]+", "-", identity.sys_name.lower()).strip("-.")
        if name:
            return name
    return "host-" + address.replace(".", "-")


def _scalar(value: str) -> str:
    # JSON strings are valid YAML scalars; plain names need no quotes
    return value if re.fullmatch(r"[a-z0-9][a-z0-9_.-]*", value) else json.dumps(value)


def config_snippet(neighbours: Sequence[Neighbour], identities: Mapping[str, Identity], *,
                   interval: str = "60s", profiles: Catalog | None = None) -> str:
    """The `checks:` section to paste into a config: ping every host found, and poll over
    SNMP those that answered (with the community they answered to, and the device profile
    their sysObjectID selects among `profiles`)."""
    names: dict[str, str] = {}
    taken: set[str] = set()
    for n in neighbours:
        base = name = check_name(n.address, identities.get(n.address))
        suffix = 2
        while name in taken:  # two devices with one sysName
            name, suffix = f"{base}-{suffix}", suffix + 1
        taken.add(name)
        names[n.address] = name
    lines = ["checks:", "  ping:"]
    lines += [f"    - {{name: {_scalar(names[n.address])}, address: {n.address}, "
              f"interval: {interval}, count: 5}}" for n in neighbours]
    snmp = [n for n in neighbours if n.address in identities]
    if snmp:
        lines.append("  snmp:")
        for n in snmp:
            identity = identities[n.address]
            # the device's own words, in a comment: a control character there would make
            # the pasted file unreadable YAML, so only printable characters are kept
            descr = " ".join("".join(c if c.isprintable() else " "
                                     for c in identity.sys_descr or "").split())[:60]
            comment = f"  # {descr}" if descr else ""
            profile = profile_of(identity, profiles) if profiles is not None else None
            chosen = f", profile: {profile}" if profile else ""
            lines.append(f"    - {{name: {_scalar(names[n.address])}, address: {n.address}, "
                         f"version: 2c, community: {_scalar(identity.community)}, "
                         f"interval: {interval}{chosen}}}{comment}")
    return "\n".join(lines) + "\n"
