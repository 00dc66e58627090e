"""What a query verb was asked for: the period, and which sites, targets and devices."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Selection:
    since_ns: int
    until_ns: int                     # exclusive
    sites: tuple[str, ...] = ()       # empty: every site
    targets: tuple[str, ...] = ()     # ping targets, or snmp devices; empty: every one

    def wants(self, site: str, target: str | None = None) -> bool:
        return ((not self.sites or site in self.sites)
                and (not self.targets or target is None or target in self.targets))
