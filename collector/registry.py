"""The probe kinds linkwatch knows: the built-in ones, then any other installed package's.

Adding a built-in probe is a folder under collector/ that exports `PROBE` and one line in
`BUILTIN`. A package outside linkwatch registers its own kinds under the entry-point group
`linkwatch.probes` (each entry point names a `ProbeKind`), and a config may then use them.
"""

from __future__ import annotations

from importlib.metadata import entry_points

from linkwatch.collector import host, ping, snmp
from linkwatch.collector.kind import ProbeKind

BUILTIN: tuple[ProbeKind, ...] = (ping.PROBE, snmp.PROBE, host.PROBE)

ENTRY_POINT_GROUP = "linkwatch.probes"


class RegistryError(Exception):
    """An installed package registers a probe kind that cannot be used."""


def probe_kinds() -> tuple[ProbeKind, ...]:
    """Every probe kind: the built-in ones first, then the registered ones by name."""
    found = list(BUILTIN)
    for entry in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        try:
            kind = entry.load()
        except Exception as e:  # a broken plugin names itself instead of a traceback
            raise RegistryError(f"probe kind {entry.name!r} ({entry.value}) cannot be "
                                f"loaded: {type(e).__name__}: {e}") from e
        if not isinstance(kind, ProbeKind):
            raise RegistryError(f"entry point {entry.name!r} ({entry.value}) is not a "
                                "linkwatch.collector.kind.ProbeKind")
        if any(k.kind == kind.kind for k in found):
            raise RegistryError(f"probe kind {kind.kind!r} ({entry.value}) is registered "
                                "twice")
        found.append(kind)
    return tuple(found)
