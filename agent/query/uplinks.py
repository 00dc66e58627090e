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
from collections.abc import Mapping
from dataclasses import dataclass

from linkwatch.agent.config.schema import DIRECTIONS, Uplink
from linkwatch.agent.query.bandwidth import WINDOW_S
from linkwatch.agent.query.columns import Series

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


def usage_from_series(series: Series | None, need: int, above_pct: float) -> UplinkUsage:
    """The usage of one uplink from its `interface` columns (None: no points)."""
    hourly: dict[str, dict[int, float]] = {}
    above: dict[str, list[tuple[int, float]]] = {}
    seconds = [t // _NS for t in series.times] if series is not None else []
    for d in DIRECTIONS:
        hours: dict[int, list[float]] = defaultdict(list)
        windows: dict[int, tuple[list[float], list[float]]] = defaultdict(lambda: ([], []))
        if series is not None:
            for t, rate, util in zip(seconds, series.values(f"{d}_bps"),
                                     series.values(f"{d}_util_pct"), strict=True):
                window = t // WINDOW_S * WINDOW_S
                if rate == rate:              # not NaN: a valid rate
                    hours[t // HOUR_S * HOUR_S].append(rate)
                    windows[window][0].append(rate)
                if util == util:
                    windows[window][1].append(util)
        hourly[d] = {h: sum(v) / len(v) for h, v in hours.items()}
        above[d] = [(w, sum(utils) / len(utils)) for w, (rates, utils) in sorted(windows.items())
                    if len(rates) >= need and utils and sum(utils) / len(utils) > above_pct]
    return UplinkUsage(hourly, above)


def loss_from_series(targets: Mapping[tuple[str, str], Series]) -> dict[tuple[str, str], float]:
    """Loss while up per (site, target), from each target's `ping` columns."""
    found = {}
    for key, series in targets.items():
        sent = received = 0.0
        for up, s, r in zip(series.values("up"), series.values("sent"),
                            series.values("received"), strict=True):
            if up == 1:
                sent += s if s == s else 0.0
                received += r if r == r else 0.0
        if sent:
            found[key] = 100.0 * (1 - received / sent)
    return found
