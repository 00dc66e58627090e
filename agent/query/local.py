"""The query backend over the agent's own history (the spool): works with no link at all.

It reads the points of the period and reduces them in Python to the same summaries the
InfluxDB backend gets from the server, with the same definitions, so both agree.

Each measurement of a period is read once (agent.query.columns), with every field any
summary takes from it, and kept while the backend is open: a report's uptime, latency and
loss share one reading of `ping`, its bandwidth and uplink hours one of `interface`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

from linkwatch.agent.query import bandwidth, columns, latency, uplinks, windows
from linkwatch.agent.query.bandwidth import Traffic
from linkwatch.agent.query.columns import Progress, Series
from linkwatch.agent.query.latency import Latency
from linkwatch.agent.query.selection import Selection
from linkwatch.agent.query.states import UpSeries, events_of, median_spacing_s
from linkwatch.agent.query.uplinks import UplinkQuery, UplinkUsage
from linkwatch.agent.query.windows import WindowSeries
from linkwatch.agent.spool import Spool
from linkwatch.collector.sample import Sample

DEFAULT_INTERVAL_S = 60.0

# What the summaries read, per measurement: one reading serves them all.
_FIELDS = {
    "ping": tuple(dict.fromkeys(("up", *latency.SAMPLE_FIELDS, *uplinks.PING_FIELDS))),
    "interface": tuple(dict.fromkeys((*bandwidth.SAMPLE_FIELDS, *uplinks.INTERFACE_FIELDS))),
}


class LocalBackend:
    name = "local history"

    def __init__(self, spool: Spool, *, progress: Progress | None = None) -> None:
        self.spool = spool
        self._progress = progress
        self._read: dict[tuple[str, int, int, tuple[str, ...], tuple[str, ...]],
                         list[Series]] = {}

    @property
    def description(self) -> str:
        return f"the local history in {self.spool.path}"

    @property
    def source(self) -> tuple[str, str]:
        return "local", str(self.spool.path)

    def close(self) -> None:
        self._read.clear()
        self.spool.close()

    def _series(self, measurement: str, sel: Selection, field: str | None = None
                ) -> list[Series]:
        """The period's series of `measurement` (of the selected sites), read once with
        every field the summaries take from it (and `field`)."""
        fields = tuple(dict.fromkeys((*_FIELDS.get(measurement, ("up",)),
                                      *((field,) if field else ()))))
        key = (measurement, sel.since_ns, sel.until_ns, tuple(sorted(sel.sites)), fields)
        if key not in self._read:
            self._read[key] = columns.read(
                self.spool, measurement, sel.since_ns, sel.until_ns, fields=fields,
                sites=key[3], progress=self._progress)
        return self._read[key]

    def _samples(self, measurement: str, sel: Selection, tag: str | None,
                 fields: tuple[str, ...]) -> Iterator[Sample]:
        tags = {"site": sel.sites[0]} if len(sel.sites) == 1 else None
        # only the fields a summary reads are decoded: most of the time goes into decoding
        for s in self.spool.history(measurement, sel.since_ns, sel.until_ns, tags,
                                    fields=fields):
            site = s.tags.get("site", "")
            if sel.sites and site not in sel.sites:
                continue
            if tag and sel.targets and s.tags.get(tag, "") not in sel.targets:
                continue
            yield s

    def _targets(self, measurement: str, sel: Selection, tag: str, field: str | None = None
                 ) -> dict[tuple[str, str], Series]:
        """(site, target) → its points, for the selected targets."""
        found = columns.group(self._series(measurement, sel, field),
                              lambda tags: (tags.get("site", ""), tags.get(tag, "")))
        return {k: s for k, s in found.items() if not sel.targets or k[1] in sel.targets}

    def up_series(self, sel: Selection, *, measurement: str, tag: str,
                  intervals: Mapping[str, float], field: str = "up") -> list[UpSeries]:
        found = []
        targets = self._targets(measurement, sel, tag, field)
        for (site, target), series in sorted(targets.items()):
            pairs = [(t, int(up)) for t, up in zip(series.times, series.values(field),
                                                   strict=True) if up == up]
            if not pairs:
                continue
            times = [t for t, _ in pairs]
            ups = [up for _, up in pairs]
            interval = intervals.get(target) or median_spacing_s(times) or DEFAULT_INTERVAL_S
            found.append(UpSeries(
                site=site, target=target, interval_s=interval, count=len(times),
                up_count=sum(ups), first_ns=times[0], first_up=ups[0], last_ns=times[-1],
                last_up=ups[-1], events=tuple(events_of(times, ups, int(interval * 1e9)))))
        return found

    def latency(self, sel: Selection) -> list[Latency]:
        return [latency.from_series(site, target, series) for (site, target), series
                in sorted(self._targets("ping", sel, "target").items())]

    def traffic(self, sel: Selection, *, min_samples_of: Mapping[str, int],
                default_min: int) -> list[Traffic]:
        found = [s for s in self._series("interface", sel)
                 if not sel.targets or s.tags.get("device", "") in sel.targets]
        return bandwidth.from_series(found, dict(min_samples_of), default_min)

    def latest(self, measurement: str, sel: Selection) -> list[Sample]:
        return [s for s in self.spool.latest(measurement)
                if sel.since_ns <= s.time_ns < sel.until_ns + 1
                and (not sel.sites or s.tags.get("site", "") in sel.sites)]

    def points(self, measurement: str, sel: Selection) -> list[Sample]:
        """Every point of a sparse measurement (`path`) in the period, oldest first."""
        return [s for s in self.spool.history(measurement, sel.since_ns, sel.until_ns + 1)
                if not sel.sites or s.tags.get("site", "") in sel.sites]

    def windows(self, measurement: str, fields: Sequence[str], sel: Selection, *,
                window_s: int) -> list[WindowSeries]:
        return windows.from_samples(self._samples(measurement, sel, None, tuple(fields)),
                                    fields, window_s)

    def uplink_usage(self, sel: Selection, queries: Sequence[UplinkQuery],
                     above_pct: float) -> dict[tuple[str, str], UplinkUsage]:
        found = {}
        every = self._series("interface", sel)
        for q in queries:
            u = q.uplink
            mine = [s for s in every if s.tags.get("site") == u.site
                    and s.tags.get("device") == u.device and u.matches(s.tags)]
            merged = columns.group(mine, lambda _tags: "uplink").get("uplink")
            found[(u.device, u.interface)] = uplinks.usage_from_series(merged, q.need,
                                                                       above_pct)
        return found

    def loss_while_up(self, sel: Selection) -> dict[tuple[str, str], float]:
        return uplinks.loss_from_series(self._targets("ping", sel, "target"))
