"""Radio links over a period, and when they were degraded (docs/cli.md "Radio degradation").

A radio link is one series of the `radio` measurement: a device and its row tags (the radio,
the station). Its 5-minute windows (aligned to the epoch) come from the backend; a window is
*degraded* when its mean signal is below the site's floor (`radio_floor_dbm`, default
−75 dBm) or its mean CCQ below `radio_min_ccq_pct` (default 70 %). Medians and percentiles
are over the windows' means (as the bandwidth percentiles are), the worst value is the worst
single poll: the lowest signal, CCQ and rate, the highest noise.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from linkwatch.agent.config.schema import Config, SiteRequirements
from linkwatch.agent.query.bandwidth import WINDOW_S
from linkwatch.agent.query.selection import Selection
from linkwatch.agent.query.states import median, percentile
from linkwatch.agent.query.windows import Window, WindowSeries

MEASUREMENT = "radio"
SIGNAL, NOISE, CCQ, TX_RATE, RX_RATE = ("signal_dbm", "noise_dbm", "ccq_pct", "tx_rate_bps",
                                        "rx_rate_bps")
FIELDS = (SIGNAL, NOISE, CCQ, TX_RATE, RX_RATE)
SERIES_TAGS = ("agent", "site", "device")     # the rest of a series' tags name the link
COLUMNS = ("site", "device", "link", "signal_median_dbm", "signal_p5_dbm", "signal_worst_dbm",
           "noise_median_dbm", "ccq_median_pct", "ccq_p5_pct", "tx_rate_median_bps",
           "rx_rate_median_bps", "minutes_degraded")
_WINDOW_NS = WINDOW_S * 10**9
Interval = tuple[int, int]


@dataclass(frozen=True)
class RadioLink:
    site: str
    device: str
    link: str                        # its row tags, "radio=1 station=68:72:51:00:34:25"
    windows: tuple[Window, ...]
    floor_dbm: float
    min_ccq_pct: float
    period_s: float

    def within(self, since_ns: int, until_ns: int) -> RadioLink:
        """The link over a shorter period (the windows that start in it)."""
        return dataclasses.replace(
            self, windows=tuple(w for w in self.windows if since_ns <= w.start_ns < until_ns),
            period_s=(until_ns - since_ns) / 1e9)

    def degraded(self, w: Window) -> bool:
        signal, ccq = w.mean.get(SIGNAL), w.mean.get(CCQ)
        return ((signal is not None and signal < self.floor_dbm)
                or (ccq is not None and ccq < self.min_ccq_pct))

    @property
    def degraded_windows(self) -> tuple[Window, ...]:
        return tuple(w for w in self.windows if self.degraded(w))

    @property
    def minutes_degraded(self) -> int:
        return len(self.degraded_windows) * WINDOW_S // 60

    @property
    def degraded_pct(self) -> float | None:
        """Degraded share of the time the link was measured."""
        return 100.0 * len(self.degraded_windows) / len(self.windows) if self.windows else None

    @property
    def coverage_pct(self) -> float:
        return min(100.0, 100.0 * len(self.windows) * WINDOW_S / self.period_s) \
            if self.period_s else 0.0

    def _means(self, name: str) -> list[float]:
        return [w.mean[name] for w in self.windows if name in w.mean]

    def _extreme(self, name: str, highest: bool) -> float | None:
        values = [(w.high if highest else w.low)[name] for w in self.windows if name in w.low]
        return (max(values) if highest else min(values)) if values else None

    def row(self) -> dict[str, object]:
        row: dict[str, object] = {"site": self.site, "device": self.device, "link": self.link}
        for name, prefix, unit in ((SIGNAL, "signal", "dbm"), (CCQ, "ccq", "pct"),
                                   (TX_RATE, "tx_rate", "bps"), (RX_RATE, "rx_rate", "bps")):
            means = self._means(name)
            row[f"{prefix}_median_{unit}"] = _round(median(means) if means else None)
            row[f"{prefix}_p5_{unit}"] = _round(percentile(means, 5))
            row[f"{prefix}_worst_{unit}"] = _round(self._extreme(name, highest=False))
        noise = self._means(NOISE)
        row["noise_median_dbm"] = _round(median(noise) if noise else None)
        row["noise_p95_dbm"] = _round(percentile(noise, 95))
        row["noise_worst_dbm"] = _round(self._extreme(NOISE, highest=True))
        row |= {"minutes_degraded": self.minutes_degraded,
                "degraded_pct": _round(self.degraded_pct), "floor_dbm": self.floor_dbm,
                "min_ccq_pct": self.min_ccq_pct, "windows": len(self.windows),
                "coverage_pct": _round(self.coverage_pct)}
        return row


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def link_name(tags: Mapping[str, str]) -> str:
    """A series' row tags, which tell its links apart: `radio=1 station=68:72:51:00:34:25`."""
    return " ".join(f"{k}={v}" for k, v in sorted(tags.items()) if k not in SERIES_TAGS)


def links(config: Config, series: Sequence[WindowSeries], sel: Selection) -> list[RadioLink]:
    """The radio links of `series` (the backend's windows of FIELDS) that `sel` wants, with
    their site's floor."""
    found = []
    for s in series:
        site, device = s.tags.get("site", ""), s.tags.get("device", "")
        if not sel.wants(site, device):
            continue
        declared = config.site(site)
        req = declared.requirements if declared is not None else SiteRequirements()
        found.append(RadioLink(site, device, link_name(s.tags), s.windows, req.radio_floor_dbm,
                               req.radio_min_ccq_pct, (sel.until_ns - sel.since_ns) / 1e9))
    found.sort(key=lambda r: (r.site, r.device, r.link))
    return found
