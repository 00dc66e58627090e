"""The query backend over the agent's own history (the spool): works with no link at all.

It reads the samples of the period and reduces them in Python to the same summaries the
InfluxDB backend gets from the server, with the same definitions, so both agree.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence

from linkwatch.agent.query import bandwidth, latency, uplinks, windows
from linkwatch.agent.query.bandwidth import Traffic
from linkwatch.agent.query.latency import Latency
from linkwatch.agent.query.selection import Selection
from linkwatch.agent.query.states import UpSeries, events_of, median_spacing_s
from linkwatch.agent.query.uplinks import UplinkQuery, UplinkUsage
from linkwatch.agent.query.windows import WindowSeries
from linkwatch.agent.spool import Spool
from linkwatch.collector.sample import Sample

DEFAULT_INTERVAL_S = 60.0


class LocalBackend:
    name = "local history"

    def __init__(self, spool: Spool) -> None:
        self.spool = spool

    @property
    def description(self) -> str:
        return f"the local history in {self.spool.path}"

    @property
    def source(self) -> tuple[str, str]:
        return "local", str(self.spool.path)

    def close(self) -> None:
        self.spool.close()

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

    def up_series(self, sel: Selection, *, measurement: str, tag: str,
                  intervals: Mapping[str, float], field: str = "up") -> list[UpSeries]:
        # time -> up per target; a point stored twice (resent after a crash) counts once,
        # as InfluxDB keeps one value per series and time
        points: dict[tuple[str, str], dict[int, int]] = defaultdict(dict)
        for s in self._samples(measurement, sel, tag, (field,)):
            up = s.fields.get(field)
            if isinstance(up, int | float):
                points[(s.tags.get("site", ""), s.tags.get(tag, ""))][s.time_ns] = int(up)
        found = []
        for (site, target), by_time in sorted(points.items()):
            times = sorted(by_time)
            ups = [by_time[t] for t in times]
            interval = intervals.get(target) or median_spacing_s(times) or DEFAULT_INTERVAL_S
            found.append(UpSeries(
                site=site, target=target, interval_s=interval, count=len(times),
                up_count=sum(ups), first_ns=times[0], first_up=ups[0], last_ns=times[-1],
                last_up=ups[-1], events=tuple(events_of(times, ups, int(interval * 1e9)))))
        return found

    def latency(self, sel: Selection) -> list[Latency]:
        by_target: dict[tuple[str, str], dict[int, Sample]] = defaultdict(dict)
        for s in self._samples("ping", sel, "target", latency.SAMPLE_FIELDS):
            by_target[(s.tags.get("site", ""), s.tags.get("target", ""))][s.time_ns] = s
        return [latency.from_samples(site, target, [group[t] for t in sorted(group)])
                for (site, target), group in sorted(by_target.items())]

    def traffic(self, sel: Selection, *, min_samples_of: Mapping[str, int],
                default_min: int) -> list[Traffic]:
        unique: dict[tuple[tuple[tuple[str, str], ...], int], Sample] = {}
        for s in self._samples("interface", sel, "device", bandwidth.SAMPLE_FIELDS):
            unique[(tuple(sorted(s.tags.items())), s.time_ns)] = s
        ordered = sorted(unique.values(), key=lambda s: s.time_ns)
        return bandwidth.from_samples(ordered, dict(min_samples_of), default_min)

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
        for q in queries:
            u = q.uplink
            samples = (s for s in self.spool.history(
                "interface", sel.since_ns, sel.until_ns, {"site": u.site, "device": u.device},
                fields=uplinks.INTERFACE_FIELDS) if u.matches(s.tags))
            found[(u.device, u.interface)] = uplinks.usage_from_samples(samples, q.need,
                                                                        above_pct)
        return found

    def loss_while_up(self, sel: Selection) -> dict[tuple[str, str], float]:
        return uplinks.loss_from_samples(self._samples("ping", sel, "target",
                                                       uplinks.PING_FIELDS))
