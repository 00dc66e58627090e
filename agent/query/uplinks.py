"""A site uplink's traffic over time, for the report's heat map and office-hours minutes, and
loss counted only while a target was up.

- Hourly mean rate per direction: the mean of the hour's valid rates (a gap is no entry).
- Windows above: the valid 5-minute windows (at least `need` rates, as agent.query.bandwidth
  counts them) whose mean utilisation exceeds `above_pct`, with their start and that mean.
- Loss while up: 100 × (1 − Σreceived ÷ Σsent) over the cycles with up = 1, so an outage is
  not counted twice (once as downtime, once as loss).

Both backends compute these exactly so; the local history through the functions here.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TypeGuard

from linkwatch.agent.config.schema import DIRECTIONS, Uplink
from linkwatch.agent.query.bandwidth import WINDOW_S
from linkwatch.collector.sample import Sample

_NS = 1_000_000_000
HOUR_S = 3600

# Every field the functions here read: the local history decodes only these.
INTERFACE_FIELDS = tuple(f"{d}_{kind}" for d in DIRECTIONS for kind in ("bps", "util_pct"))
PING_FIELDS = ("up", "sent", "received")


@dataclass(frozen=True)
class UplinkQuery:
    """One uplink to read, and the valid rates a 5-minute window of it needs."""

    uplink: Uplink
    need: int


@dataclass(frozen=True)
class UplinkUsage:
    hourly_bps: dict[str, dict[int, float]]              # direction → hour start (s) → mean
    windows_above: dict[str, list[tuple[int, float]]]    # direction → (window start s, util)


def usage_from_samples(samples: Iterable[Sample], need: int, above_pct: float) -> UplinkUsage:
    """The usage of one uplink from its `interface` samples (any order; a point stored
    twice counts once, as InfluxDB keeps one value per series and time)."""
    seen = {s.time_ns: s.fields for s in samples}
    hourly: dict[str, dict[int, float]] = {}
    above: dict[str, list[tuple[int, float]]] = {}
    for d in DIRECTIONS:
        hours: dict[int, list[float]] = defaultdict(list)
        windows: dict[int, tuple[list[float], list[float]]] = defaultdict(lambda: ([], []))
        for t in sorted(seen):
            rate, util = seen[t].get(f"{d}_bps"), seen[t].get(f"{d}_util_pct")
            window = t // _NS // WINDOW_S * WINDOW_S
            if _number(rate):
                hours[t // _NS // HOUR_S * HOUR_S].append(float(rate))
                windows[window][0].append(float(rate))
            if _number(util):
                windows[window][1].append(float(util))
        hourly[d] = {h: sum(v) / len(v) for h, v in hours.items()}
        above[d] = [(w, sum(utils) / len(utils)) for w, (rates, utils) in sorted(windows.items())
                    if len(rates) >= need and utils and sum(utils) / len(utils) > above_pct]
    return UplinkUsage(hourly, above)


def loss_from_samples(samples: Iterable[Sample]) -> dict[tuple[str, str], float]:
    """Loss while up per (site, target), from `ping` samples."""
    sums: dict[tuple[str, str], dict[int, tuple[int, int]]] = defaultdict(dict)
    for s in samples:
        if s.fields.get("up") == 1:
            key = (s.tags.get("site", ""), s.tags.get("target", ""))
            sums[key][s.time_ns] = (int(s.fields.get("sent", 0)),
                                    int(s.fields.get("received", 0)))
    found = {}
    for key, by_time in sums.items():
        sent = sum(a for a, _ in by_time.values())
        received = sum(b for _, b in by_time.values())
        if sent:
            found[key] = 100.0 * (1 - received / sent)
    return found


def _number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)
