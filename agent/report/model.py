"""What one report holds: plain dataclasses around the query layer's results."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field

from linkwatch.agent.config.schema import Site, SiteRequirements
from linkwatch.agent.query.availability import Outage, Uptime
from linkwatch.agent.query.bandwidth import Bandwidth
from linkwatch.agent.query.causes import CAUSES, Cause, outage_end_ns
from linkwatch.agent.query.latency import Latency
from linkwatch.agent.query.power import SitePower
from linkwatch.agent.query.radio import RadioLink


@dataclass(frozen=True)
class HeatMap:
    """Mean utilisation (%) by day of the period (rows) × local hour (columns); None = no data."""

    days: tuple[dt.date, ...]
    cells: tuple[tuple[float | None, ...], ...]


@dataclass(frozen=True)
class DirectionReport:
    """One direction of a site's uplink: "down" (towards the site, the interface's `in`)."""

    direction: str
    bandwidth: Bandwidth
    office_minutes_above: tuple[int, int]     # minutes above warn/upgrade in office hours
    required_bps: float                       # declared services + baseline
    heat: HeatMap | None = None

    @property
    def capacity_bps(self) -> float | None:
        return self.bandwidth.capacity_bps

    @property
    def p95_util_pct(self) -> float | None:
        return self.bandwidth.row()["util_p95_pct"]  # type: ignore[return-value]


@dataclass(frozen=True)
class Quality:
    """The worst of a site's ping targets, and loss counted while the link was up."""

    latency: tuple[Latency, ...]
    loss_while_up_pct: float | None

    @property
    def rtt_p95_ms(self) -> float | None:
        values = [x.rtt_p95_ms for x in self.latency if x.rtt_p95_ms is not None]
        return max(values) if values else None

    @property
    def rtt_median_ms(self) -> float | None:
        values = [x.rtt_median_ms for x in self.latency if x.rtt_median_ms is not None]
        return max(values) if values else None

    @property
    def jitter_ms(self) -> float | None:
        values = [x.jitter_ms for x in self.latency if x.jitter_ms is not None]
        return max(values) if values else None


@dataclass(frozen=True)
class CauseSplit:
    """A site's outage time by cause: its counted outages (not those charged to a parent)."""

    seconds: dict[str, float]
    outages: dict[str, int]

    @classmethod
    def of(cls, outages: tuple[Outage, ...], causes: tuple[Cause, ...]) -> CauseSplit:
        seconds = dict.fromkeys(CAUSES, 0.0)
        counts = dict.fromkeys(CAUSES, 0)
        for o, c in zip(outages, causes, strict=True):
            if o.charged_to is None:
                seconds[c.cause] += (outage_end_ns(o) - o.start_ns) / 1e9
                counts[c.cause] += 1
        return cls(seconds, counts)

    @property
    def total_s(self) -> float:
        return sum(self.seconds.values())


@dataclass(frozen=True)
class Verdict:
    """One finding: a message key of agent.report.i18n and its numbers."""

    kind: str            # "availability", "coverage", "bandwidth", "capacity", "quality",
                         # "power", "radio", "link", "ok"
    severity: int        # 0 fine, 1 warn, 2 gap
    key: str
    values: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class SiteReport:
    site: Site
    requirements: SiteRequirements
    uptime: Uptime | None
    targets: tuple[Uptime, ...]
    outages: tuple[Outage, ...]
    down: DirectionReport | None
    up: DirectionReport | None
    quality: Quality | None
    uplink: str | None                        # "device/interface" measured, if any
    causes: tuple[Cause, ...] = ()            # of each outage, in the same order
    split: CauseSplit = field(default_factory=lambda: CauseSplit({}, {}))
    radio: tuple[RadioLink, ...] = ()         # the site's radio links over the period
    power: SitePower | None = None            # its UPSs, if any
    verdicts: tuple[Verdict, ...] = ()
    score: float = 0.0                        # for ranking: larger = bigger gap

    @property
    def name(self) -> str:
        return self.site.name


@dataclass(frozen=True)
class Report:
    since_ns: int
    until_ns: int
    tz: dt.tzinfo
    source: tuple[str, str]           # ("local", "influx" or "victoriametrics", path or url)
    sites: tuple[SiteReport, ...]             # ranked by gap, biggest first
    district: Uptime | None                   # every site's targets summed
    generated_ns: int
    min_cycles: int
    excluded: tuple[tuple[str, dict[str, object]], ...] = ()   # (i18n key, values)

    @property
    def period_s(self) -> float:
        return (self.until_ns - self.since_ns) / 1e9
