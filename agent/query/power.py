"""Power at the sites: when each UPS ran on battery, and power events (docs/cli.md "Power
event").

A power event is a run of a UPS on battery (`power.on_battery` = 1, its transitions read
like `up`'s), or a UPS that stops answering while every other target of its site stops too,
right after its last answer said it was on battery: the battery ran flat and took the site
down with it. A UPS that falls silent with its site while on mains is what a cut link looks
like from the far side, so that is no power event. The events of a site are merged where
they touch or overlap (on battery, then silent: one power cut).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from linkwatch.agent.query.availability import intersect_all
from linkwatch.agent.query.states import Run, UpSeries, runs
from linkwatch.agent.query.windows import WindowSeries

MEASUREMENT = "power"
ON_BATTERY, CHARGE = "on_battery", "charge_pct"
COLUMNS = ("site", "devices", "minutes_on_battery", "power_events", "longest_on_battery_min",
           "lowest_charge_pct", "ran_flat")
Interval = tuple[int, int]


@dataclass(frozen=True)
class PowerRun:
    """One UPS on battery (`kind` "on_battery"), or silent with its site after running on
    battery ("silent"), from `start_ns` to `end_ns`."""

    site: str
    device: str
    kind: str
    start_ns: int
    end_ns: int


@dataclass(frozen=True)
class SitePower:
    site: str
    devices: tuple[str, ...]           # the site's UPSs (devices with `on_battery` data)
    runs: tuple[PowerRun, ...]
    lowest_charge: Mapping[str, float]  # per UPS, its lowest battery charge (%)

    @property
    def lowest_charge_pct(self) -> float | None:
        return min(self.lowest_charge.values(), default=None)

    def only(self, devices: Sequence[str]) -> SitePower:
        """The site seen through these UPSs alone."""
        return SitePower(self.site, tuple(d for d in self.devices if d in devices),
                         tuple(r for r in self.runs if r.device in devices),
                         {d: v for d, v in self.lowest_charge.items() if d in devices})

    @property
    def events(self) -> list[Interval]:
        """The power events: every run, merged where they touch or overlap."""
        merged: list[list[int]] = []
        for r in sorted(self.runs, key=lambda r: r.start_ns):
            if merged and r.start_ns <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], r.end_ns)
            else:
                merged.append([r.start_ns, r.end_ns])
        return [(a, b) for a, b in merged]

    def _seconds(self, kind: str) -> list[float]:
        return [(r.end_ns - r.start_ns) / 1e9 for r in self.runs if r.kind == kind]

    @property
    def on_battery_s(self) -> float:
        return sum(self._seconds("on_battery"))

    @property
    def longest_on_battery_s(self) -> float | None:
        return max(self._seconds("on_battery"), default=None)

    @property
    def ran_flat(self) -> int:
        return len(self._seconds("silent"))

    def row(self) -> dict[str, object]:
        longest = self.longest_on_battery_s
        return {
            "site": self.site, "devices": ", ".join(self.devices),
            "minutes_on_battery": round(self.on_battery_s / 60, 1),
            "power_events": len(self.events),
            "longest_on_battery_min": None if longest is None else round(longest / 60, 1),
            "lowest_charge_pct": self.lowest_charge_pct, "ran_flat": self.ran_flat,
            "minutes_silent": round(sum(self._seconds("silent")) / 60, 1),
        }


def site_power(battery: Sequence[UpSeries], devices: Sequence[UpSeries],
               links: Sequence[UpSeries], charge: Sequence[WindowSeries],
               ) -> dict[str, SitePower]:
    """Per site with a UPS: its power runs and lowest charge.

    `battery`: the `on_battery` series of the UPSs; `devices`: the `up` series of the SNMP
    devices (the UPSs among them); `links`: the link targets' `up` series (ping);
    `charge`: windows of `charge_pct`.
    """
    failed: dict[str, list[tuple[str, list[Interval]]]] = defaultdict(list)
    device_runs: dict[tuple[str, str], list[Run]] = {}
    for s in devices:
        found = runs(s)
        device_runs[(s.site, s.target)] = found
        failed[s.site].append((f"device:{s.target}", _down(found)))
    for s in links:
        failed[s.site].append((f"link:{s.target}", _down(runs(s))))
    lowest: dict[tuple[str, str], float] = {}
    for w in charge:
        key = (w.tags.get("site", ""), w.tags.get("device", ""))
        values = [x.low[CHARGE] for x in w.windows if CHARGE in x.low]
        if values:
            lowest[key] = min(min(values), lowest.get(key, float("inf")))
    by_site: dict[str, list[PowerRun]] = defaultdict(list)
    ups: dict[str, list[str]] = defaultdict(list)
    for s in battery:
        ups[s.site].append(s.target)
        others = [spans for name, spans in failed[s.site] if name != f"device:{s.target}"]
        for run in runs(s):
            if not run.up:
                continue
            by_site[s.site].append(PowerRun(s.site, s.target, "on_battery", run.start_ns,
                                            run.end_ns))
            silent = _silent_after(run, device_runs.get((s.site, s.target), []),
                                   s.interval_ns, others)
            if silent is not None:
                # one power cut: the silence continues the run on battery where it ended
                # (the first failed cycle may come a few ms off a whole interval later)
                by_site[s.site].append(PowerRun(s.site, s.target, "silent", run.end_ns,
                                                silent.end_ns))
    return {site: SitePower(site, tuple(sorted(names)), tuple(by_site[site]),
                            {d: lowest[(site, d)] for d in names if (site, d) in lowest})
            for site, names in sorted(ups.items())}


def _down(found: Sequence[Run]) -> list[Interval]:
    return [(r.start_ns, r.end_ns) for r in found if not r.up]


def _silent_after(on_battery: Run, device: Sequence[Run], step_ns: int,
                  others: Sequence[list[Interval]]) -> Run | None:
    """The UPS's silence that began where its run on battery stopped answering, if every
    other target of the site was failing during it too."""
    if on_battery.end_kind != "gap":
        return None              # back on mains, or still on battery at the end of the data
    for run in device:
        if not run.up and abs(run.start_ns - on_battery.end_ns) <= step_ns:
            if others and not intersect_all([*others, [(run.start_ns, run.end_ns)]]):
                return None      # the site's other targets answered: the UPS alone went quiet
            return run
    return None


def rows(found: Mapping[str, SitePower]) -> list[dict[str, object]]:
    return [found[site].row() for site in sorted(found)]
