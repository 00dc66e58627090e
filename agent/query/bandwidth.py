"""Traffic per interface and direction over a period, on 5-minute averages.

Definitions (docs/cli.md):
- A 5-minute window (aligned to the epoch, as InfluxDB's GROUP BY time(5m)) is *valid* when
  it holds valid rates (`in_bps`/`out_bps`, present only for a valid counter delta) for at
  least half of it: count × poll interval ≥ 150 s. Windows inside a data gap hold none.
- mean_bps, p95_bps (nearest rank) are over the valid windows' average rates; max_bps is the
  highest single-poll rate in them; coverage = valid windows × 5 min ÷ period; a p95 with
  coverage below 80% is marked insufficient.
- Utilisation is the probe's `in_util_pct`/`out_util_pct` (rate ÷ the capacity it knew:
  the contracted capacity of an uplink, else the interface speed), averaged per window:
  util_p95_pct is its 95th percentile; minutes_above_70/80 count the valid windows whose
  average utilisation was above 70% / 80%, five minutes each.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from linkwatch.agent.query.columns import Series, group, present
from linkwatch.agent.query.states import percentile

WINDOW_S = 300
THRESHOLDS = (70, 80)
MIN_COVERAGE_PCT = 80.0
DIRECTIONS = ("in", "out")
INTERFACE_KEYS = ("site", "device", "if_index", "if_name", "if_alias")


def min_samples(interval_s: float) -> int:
    """Valid rates a window needs: half of it covered by polls."""
    return max(1, math.ceil(WINDOW_S / 2 / interval_s))


@dataclass(frozen=True)
class Traffic:
    """One direction of one interface; utilisation fields absent when no capacity was known."""

    site: str
    device: str
    if_index: str
    if_name: str
    if_alias: str
    direction: str                   # "in" (towards the device) or "out"
    windows: int                     # valid 5-minute windows
    mean_bps: float | None
    p95_bps: float | None
    max_bps: float | None
    util_p95_pct: float | None
    above: tuple[int, ...]           # valid windows above each of THRESHOLDS
    speed_bps: float | None


@dataclass(frozen=True)
class Bandwidth:
    traffic: Traffic
    period_s: float
    capacity_bps: float | None
    uplink: bool

    @property
    def coverage_pct(self) -> float:
        return 100.0 * self.traffic.windows * WINDOW_S / self.period_s if self.period_s else 0.0

    def row(self) -> dict[str, object]:
        t = self.traffic
        util = t.util_p95_pct
        if util is None and self.capacity_bps and t.p95_bps is not None:
            util = 100.0 * t.p95_bps / self.capacity_bps
        return {
            "site": t.site, "device": t.device, "if_index": t.if_index, "if_name": t.if_name,
            "if_alias": t.if_alias, "uplink": self.uplink, "direction": t.direction,
            "mean_bps": _round(t.mean_bps), "p95_bps": _round(t.p95_bps),
            "max_bps": _round(t.max_bps), "capacity_bps": _round(self.capacity_bps),
            "util_p95_pct": None if util is None else round(util, 3),
            **{f"minutes_above_{th}": n * WINDOW_S // 60 for th, n in
               zip(THRESHOLDS, t.above, strict=True)},
            "windows": t.windows, "coverage_pct": round(self.coverage_pct, 3),
            "insufficient": self.coverage_pct < MIN_COVERAGE_PCT,
        }


def _round(value: float | None) -> float | None:
    # float(): a store may give an integral mean as an integer (InfluxDB's JSON does); the
    # rows are the same whichever store answered
    return None if value is None else round(float(value), 1)


@dataclass(frozen=True)
class Window:
    """One 5-minute window of one direction: what InfluxDB's GROUP BY time(5m) returns."""

    count: int                       # valid rates in it
    mean_bps: float
    max_bps: float
    mean_util_pct: float | None


def from_windows(key: tuple[str, ...], direction: str, windows: Iterable[Window], need: int,
                 speed_bps: float | None) -> Traffic | None:
    """The figures of one interface and direction from its windows in time order."""
    valid = [w for w in windows if w.count >= need]
    if not valid:
        return None
    return summary(key, direction, [w.mean_bps for w in valid],
                   [w.mean_util_pct for w in valid if w.mean_util_pct is not None],
                   max(w.max_bps for w in valid), speed_bps)


def summary(key: tuple[str, ...], direction: str, means: list[float], utils: list[float],
            max_bps: float | None, speed_bps: float | None) -> Traffic | None:
    """The figures from the valid windows' mean rates and mean utilisations (time order)
    and the highest rate in them."""
    if not means:
        return None
    site, device, if_index, if_name, if_alias = key       # INTERFACE_KEYS
    return Traffic(
        site, device, if_index, if_name, if_alias, direction=direction, windows=len(means),
        mean_bps=sum(means) / len(means),
        p95_bps=percentile(means, 95), max_bps=max_bps, util_p95_pct=percentile(utils, 95),
        above=tuple(sum(1 for u in utils if u > th) for th in THRESHOLDS), speed_bps=speed_bps,
    )


# Every field from_series reads: the local history decodes only these.
SAMPLE_FIELDS = ("speed_bps", *(f"{d}_{kind}" for d in DIRECTIONS for kind in ("bps", "util_pct")))


def from_series(found: Iterable[Series], min_samples_of: dict[str, int],
                default_min: int) -> list[Traffic]:
    """The same figures from the local history's `interface` columns."""
    interfaces = group(found, lambda tags: tuple(tags.get(k, "") for k in INTERFACE_KEYS))
    result = []
    for key, series in interfaces.items():
        need = min_samples_of.get(key[1], default_min)
        speeds = present(series.values("speed_bps"))
        starts = [t // (WINDOW_S * 10**9) for t in series.times]
        for d in DIRECTIONS:
            # window start -> rates and utilisations, in time order
            cells: dict[int, tuple[list[float], list[float]]] = {}
            for start, bps, util in zip(starts, series.values(f"{d}_bps"),
                                        series.values(f"{d}_util_pct"), strict=True):
                if bps != bps:            # NaN: no valid rate in this poll
                    continue
                rates, utils = cells.setdefault(start, ([], []))
                rates.append(bps)
                if util == util:
                    utils.append(util)
            windows = [Window(len(rates), sum(rates) / len(rates), max(rates),
                              sum(utils) / len(utils) if utils else None)
                       for rates, utils in cells.values()]
            traffic = from_windows(key, d, windows, need, speeds[-1] if speeds else None)
            if traffic is not None:
                result.append(traffic)
    return result
