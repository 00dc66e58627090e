"""The query backend over victoria-metrics (single node, or a cluster's vmselect): MetricsQL
reduces the data, Python gets the summary, with the definitions of docs/cli.md.

A field is the metric `<measurement>_<field>` with the point's tags as labels; the server
keeps milliseconds, so a period is taken to the millisecond: [since, until) becomes
⌈since⌉ ≤ t < ⌈until⌉ in ms, and an instant rollup over it is evaluated at until − 1 ms with
a window of until − since (the window is open on the left). Windows on the grid
(5 minutes, 1 hour, as InfluxDB's GROUP BY time()) are [w, w + width): a rollup
`x[width] offset 1ms` evaluated at w + width. How each definition maps onto MetricsQL, and
why, is in docs/cli.md ("How the work is shared with victoria-metrics").

Where one (site, target) or one interface has several series in the store (its `agent` or
`address` tag changed within the period), or a target is not in the config (its interval is
unknown), that one is read raw and reduced here, exactly as the local history does.
"""

from __future__ import annotations

import math
from array import array
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial

from linkwatch.agent.config.schema import DIRECTIONS as _DIRECTIONS
from linkwatch.agent.config.schema import VictoriaOutput
from linkwatch.agent.query import bandwidth, columns, latency, uplinks
from linkwatch.agent.query.bandwidth import DIRECTIONS, INTERFACE_KEYS, THRESHOLDS, Traffic
from linkwatch.agent.query.latency import Latency
from linkwatch.agent.query.metricsql import Client, Raw, Series, duration, matcher, quote, selector
from linkwatch.agent.query.ranks import interior_ranks, merged_rank, phi_for, rank_index
from linkwatch.agent.query.selection import Selection
from linkwatch.agent.query.states import GAP_INTERVALS, Event, UpSeries, events_of, median_spacing_s
from linkwatch.agent.query.uplinks import UplinkQuery, UplinkUsage
from linkwatch.agent.query.windows import Window, WindowSeries
from linkwatch.collector.sample import Sample
from linkwatch.collector.snmp.check import UPLINK_TAGS

MS = 1_000_000                   # ns per ms
HOUR_MS = 3_600_000
LEAD_MS = 15 * 60_000            # read before a window where a gap ends
WINDOW_MS = bandwidth.WINDOW_S * 1000
DEFAULT_INTERVAL_S = 60.0
MAX_POINTS = 25_000              # below the server's -search.maxPointsPerTimeseries (30,000)
MAX_QUERY_CHARS = 12_000         # below the server's -search.maxQueryLen (16 KiB)
MAX_MATCHES = 100                # series per export request
MAX_ANSWER_POINTS = 200_000      # quantiles asked of every series at once below this
# Per-window threshold counts in one pass: h(u) = clamp(ceil((u − t1) ÷ (t2 − t1)), 0, 2) is
# 0 at or below t1, 1 up to t2, 2 above; h^15 is 0, 1 or 32768, so the sum over at most
# 30,000 windows holds both counts: (windows above t1 only) + 32768 × (windows above t2).
_SPLIT = 2 ** 15
# Measurements whose meaning is in string fields (a trace's hops, the address it broke at):
# victoria-metrics keeps numbers only, so it is not asked for them (docs/scale.md#strings).
TEXT_MEASUREMENTS = frozenset({"path"})
TOTALS = ("count_over_time", "sum_over_time", "tfirst_over_time", "first_over_time",
          "tlast_over_time", "last_over_time")

SeriesId = frozenset[tuple[str, str]]   # a raw series: its labels (without `rollup`)
Key = tuple[str, ...]                     # (site, target), or an interface's INTERFACE_KEYS


class VictoriaBackend:
    name = "VictoriaMetrics"

    def __init__(self, output: VictoriaOutput, *, workers: int = 4) -> None:
        self.output = output
        self.client = Client(output, workers=workers)

    @property
    def description(self) -> str:
        return f"VictoriaMetrics at {self.output.read_url}"

    @property
    def source(self) -> tuple[str, str]:
        return "victoriametrics", self.output.read_url

    def close(self) -> None:
        """Nothing to release: every request opens and closes its own connection."""

    # -- up/down ----------------------------------------------------------------------------

    def up_series(self, sel: Selection, *, measurement: str, tag: str,
                  intervals: Mapping[str, float], field: str = "up") -> list[UpSeries]:
        """Per target: count, sum, first and last sample of the 0/1 `field` from one rollup
        over the period; the events (a change of `field`, a gap of more than GAP_INTERVALS
        intervals) from the raw samples of only the hours that can hold one.

        Two rollups over the whole series find those hours: `rollup_delta` (the change from
        each sample to the next, non-zero in the hour of the sample before a change) and the
        largest spacing between consecutive samples ending in the hour
        (`rollup_scrape_interval`, above GAP_INTERVALS intervals where a gap ends). The raw
        samples of each such hour are read, with GAP_INTERVALS intervals after it (the
        sample after a change) or LEAD before it (the sample before a gap); a sample that
        still has no predecessor in what was read is looked up on its own.
        """
        lo, hi = _period_ms(sel)
        metric = f"{measurement}_{field}"
        match = selector(metric, extra=_where(sel, tag))
        totals = self._totals(match, TOTALS, lo, hi)
        keys = _group(totals, ("site", tag))
        exact = {key: ids[0] for key, ids in keys.items()
                 if len(ids) == 1 and key[1] in intervals}
        found = [self._up_from_raw(metric, tag, key, intervals, lo, hi)
                 for key in sorted(set(keys) - set(exact))]
        if exact:
            events = self._events(metric, match, exact, intervals, totals, lo, hi)
            for key, sid in exact.items():
                t = totals[sid]
                found.append(UpSeries(
                    site=key[0], target=key[1], interval_s=float(intervals[key[1]]),
                    count=int(t["count_over_time"]), up_count=int(t["sum_over_time"]),
                    first_ns=_ms_of(t["tfirst_over_time"]) * MS,
                    first_up=int(t["first_over_time"]),
                    last_ns=_ms_of(t["tlast_over_time"]) * MS,
                    last_up=int(t["last_over_time"]), events=tuple(events[sid])))
        return sorted(found, key=lambda s: (s.site, s.target))

    def _events(self, metric: str, match: str, exact: Mapping[Key, SeriesId],
                intervals: Mapping[str, float], totals: Mapping[SeriesId, dict[str, float]],
                lo: int, hi: int) -> dict[SeriesId, list[Event]]:
        width = max(HOUR_MS, -(-(hi - lo) // MAX_POINTS))
        count = -(-(hi - lo) // width)
        start, end = lo + width - 1, lo + count * width - 1
        step_of = {sid: round(float(intervals[key[1]]) * 1000) for key, sid in exact.items()}
        gaps = sorted(set(step_of.values()))
        screens = [f"rollup_delta({match}[{duration(width)}]) != 0"] + [
            f'label_match(rollup_scrape_interval({match}[{duration(width)}]), "rollup", '
            f'"max") > {GAP_INTERVALS * g / 1000!r}' for g in gaps]
        answers = self.client.many([partial(self.client.range, q, start, end, width)
                                    for q in screens])
        # per window: the span to read and the series flagged in it. A change comes after
        # a sample of the window: read it and GAP_INTERVALS intervals more (the sample
        # after). A gap ends in the window: read LEAD before it, where the sample before
        # usually is.
        tail = int(GAP_INTERVALS * max(step_of.values(), default=0)) + 1
        spans: dict[tuple[int, int], list[SeriesId]] = defaultdict(list)
        for i, answer in enumerate(answers):
            for s in answer:
                sid = _sid(s.labels)
                # a gap screen counts only for the series polled at its interval
                if sid not in step_of or (i and step_of[sid] != gaps[i - 1]):
                    continue
                for k in {(t - start) // width for t, _ in s.points}:
                    a, b = lo + k * width, lo + (k + 1) * width
                    span = (a, b + tail) if i == 0 else (a - LEAD_MS, b)
                    spans[(max(lo, span[0]), min(hi, span[1]))].append(sid)
        read = self._read_spans(metric, spans)
        events: dict[SeriesId, list[Event]] = {sid: [] for sid in exact.values()}
        lookups = []
        for sid, (samples, covered) in read.items():
            first_ms = _ms_of(totals[sid]["tfirst_over_time"])
            for a, _b, times in _pieces(samples, covered):
                ups = [samples[t] for t in times]
                events[sid] += [_event(e) for e in events_of(times, ups, step_of[sid])]
                # a first sample with no predecessor read (a gap longer than LEAD, or one
                # at the start of the period): looked up on its own
                if times[0] != first_ms and (times[0] >= a + LEAD_MS or a == lo):
                    lookups.append((sid, times[0], samples[times[0]]))
        before = self.client.many([partial(self._predecessor, metric, sid, t, lo)
                                   for sid, t, _ in lookups])
        for (sid, t, up), prev in zip(lookups, before, strict=True):
            if prev is None:
                continue
            p_time, p_up = prev
            if up != p_up or t - p_time > GAP_INTERVALS * step_of[sid]:
                events[sid].append(Event(t * MS, up - p_up, (t - p_time) * MS))
        return {sid: sorted(set(e), key=lambda x: x.time_ns) for sid, e in events.items()}

    def _read_spans(self, metric: str, spans: Mapping[tuple[int, int], list[SeriesId]]
                    ) -> dict[SeriesId, tuple[dict[int, int], list[tuple[int, int]]]]:
        """Raw samples (ms → value) of the series of each span, and the spans read."""
        requests: list[tuple[tuple[int, int], Callable[[], list[Raw]]]] = []
        for (a, b), sids in sorted(spans.items()):
            for i in range(0, len(sids), MAX_MATCHES):
                matches = [_exact(sid, metric) for sid in sids[i:i + MAX_MATCHES]]
                requests.append(((a, b), partial(self.client.export, matches, a, b - 1)))
        read: dict[SeriesId, tuple[dict[int, int], list[tuple[int, int]]]] = {}
        for ((a, b), _), found in zip(requests, self.client.many([r for _, r in requests]),
                                      strict=True):
            for raw in found:
                samples, covered = read.setdefault(_sid(raw.labels), ({}, []))
                samples.update(zip(raw.timestamps, (int(v) for v in raw.values),
                                   strict=True))
                covered.append((a, b))
        for (a, b), sids in spans.items():      # a span with no sample still counts as read
            for sid in sids:
                read.setdefault(sid, ({}, []))[1].append((a, b))
        return read

    def _predecessor(self, metric: str, sid: SeriesId, t: int, lo: int
                     ) -> tuple[int, int] | None:
        """The time and value of the last sample of `sid` before `t` in the period."""
        if t <= lo:
            return None
        found = self.client.instant(
            f'aggr_over_time(("tlast_over_time","last_over_time"), {_exact(sid, metric)}'
            f'[{duration(t - lo)}])', t - 1)
        values = {s.labels.get("rollup"): s.value for s in found}
        if "tlast_over_time" not in values:
            return None
        return _ms_of(values["tlast_over_time"]), int(values["last_over_time"])

    def _up_from_raw(self, metric: str, tag: str, key: Key,
                     intervals: Mapping[str, float], lo: int, hi: int) -> UpSeries:
        raws = self.client.export([selector(metric, {"site": key[0], tag: key[1]})], lo, hi - 1)
        by_time = {t: int(v) for raw in raws
                   for t, v in zip(raw.timestamps, raw.values, strict=True)}
        times = sorted(by_time)
        ups = [by_time[t] for t in times]
        ns = [t * MS for t in times]
        interval = intervals.get(key[1]) or median_spacing_s(ns) or DEFAULT_INTERVAL_S
        return UpSeries(site=key[0], target=key[1], interval_s=float(interval),
                        count=len(times), up_count=sum(ups), first_ns=ns[0], first_up=ups[0],
                        last_ns=ns[-1], last_up=ups[-1],
                        events=tuple(events_of(ns, ups, int(interval * 1e9))))

    # -- latency ----------------------------------------------------------------------------

    def latency(self, sel: Selection) -> list[Latency]:
        """Counts, sums and the mean jitter from rollups over the period; the median and
        the nearest-rank p95 of each target's `rtt_avg_ms` from its own quantiles, at the
        φ that lands on the rank (agent.query.ranks)."""
        lo, hi = _period_ms(sel)
        where = _where(sel, "target")
        wanted = {"up": ("count_over_time",), "rtt_avg_ms": ("count_over_time",),
                  "sent": ("sum_over_time",), "received": ("sum_over_time",),
                  "jitter_ms": ("avg_over_time",)}
        answers = self.client.many([
            partial(self._totals, selector(f"ping_{f}", extra=where), fns, lo, hi)
            for f, fns in wanted.items()])
        per = dict(zip(wanted, answers, strict=True))
        sums = {f: _by_key(per[f], ("site", "target"), fns[0]) for f, fns in wanted.items()}
        keys = _group(per["up"], ("site", "target"))
        rtt_keys = _group(per["rtt_avg_ms"], ("site", "target"))
        found = []
        single = {}
        for key, ids in keys.items():
            if len(ids) > 1 or len(rtt_keys.get(key, ())) > 1:
                found.append(self._latency_from_raw(key, lo, hi))
            else:
                single[key] = ids[0]
        asks = {}
        for key in single:
            for sid in rtt_keys.get(key, ()):
                n = int(per["rtt_avg_ms"][sid]["count_over_time"])
                r = rank_index(n)
                asks[sid] = tuple(dict.fromkeys((0.5, phi_for(r, n) if r is not None else 0.5)))
        found_q = self._quantiles(
            asks, lambda extra: f"{selector('ping_rtt_avg_ms', extra=[*where, *extra])}"
                                f"[{duration(hi - lo)}]", "target", len(rtt_keys), hi - 1)
        quantiles = {sid: tuple(found_q[sid][phi] for phi in phis)
                     for sid, phis in asks.items() if sid in found_q}
        for key, sid in single.items():
            rtt = rtt_keys.get(key, ())
            n_rtt = int(per["rtt_avg_ms"][rtt[0]]["count_over_time"]) if rtt else 0
            q = quantiles.get(rtt[0], ()) if rtt else ()
            sent, received = sums["sent"].get(key), sums["received"].get(key)
            found.append(Latency(
                site=key[0], target=key[1],
                samples=int(per["up"][sid]["count_over_time"]), rtt_samples=n_rtt,
                rtt_median_ms=q[0] if q else None,
                rtt_p95_ms=(q[-1] if q else None) if n_rtt else None,
                loss_pct=latency.loss_pct(sent, received),
                jitter_ms=sums["jitter_ms"].get(key)))
        return sorted(found, key=lambda r: (r.site, r.target))

    def _latency_from_raw(self, key: Key, lo: int, hi: int) -> Latency:
        labels = {"site": key[0], "target": key[1]}
        fields = ("up", *latency.SAMPLE_FIELDS)
        found = self._series("ping", fields, labels, lo, hi)
        return latency.from_series(key[0], key[1], _one(found, labels, fields))

    # -- bandwidth --------------------------------------------------------------------------

    def traffic(self, sel: Selection, *, min_samples_of: Mapping[str, int],
                default_min: int) -> list[Traffic]:
        """Per interface and direction, over the valid 5-minute windows: their count, mean,
        highest single rate and the windows above each threshold from subquery rollups over
        the windows on the grid; the nearest-rank p95 of rate and utilisation from each
        interface's own quantiles; partial windows at the ends of the period apart."""
        lo, hi = _period_ms(sel)
        where = _where(sel, "device")
        per_direction = self.client.many([
            partial(self._direction, d, where, min_samples_of, default_min, lo, hi)
            for d in DIRECTIONS])
        speeds = self._totals(selector("interface_speed_bps", extra=where),
                              ("last_over_time",), lo, hi)
        speed_of = _by_key(speeds, INTERFACE_KEYS, "last_over_time")
        found = []
        for d, answer in zip(DIRECTIONS, per_direction, strict=True):
            for key, w in answer:
                if isinstance(w, Traffic):
                    found.append(w)
                    continue
                site, device, if_index, if_name, if_alias = key
                found.append(Traffic(
                    site=site, device=device, if_index=if_index, if_name=if_name,
                    if_alias=if_alias, direction=d, windows=w.n, mean_bps=w.mean,
                    p95_bps=w.p95, max_bps=w.highest, util_p95_pct=w.util_p95, above=w.above,
                    speed_bps=speed_of.get(key)))
        return found

    def _direction(self, d: str, where: list[str],
                   min_samples_of: Mapping[str, int], default_min: int, lo: int, hi: int
                   ) -> list[tuple[Key, _Windows | Traffic]]:
        """One direction's interfaces: their windows, or their Traffic read raw."""
        present = self._totals(selector(f"interface_{d}_bps", extra=where),
                               ("count_over_time",), lo, hi)
        keys = _group(present, INTERFACE_KEYS)
        single = {key: ids[0] for key, ids in keys.items() if len(ids) == 1}
        found: list[tuple[Key, _Windows | Traffic]] = [
            (key, t) for key in keys if key not in single
            for t in self._traffic_from_raw(key, d, min_samples_of, default_min, lo, hi)]
        need_of = {sid: min_samples_of.get(dict(sid).get("device", ""), default_min)
                   for sid in single.values()}
        windows = self._windows(d, where, _Grid.of(lo, hi, WINDOW_MS),
                                sorted(set(need_of.values())), need_of)
        found += [(key, windows[sid]) for key, sid in single.items()
                  if sid in windows and windows[sid].n]
        return found

    def _windows(self, direction: str, where: Sequence[str], grid: _Grid,
                 needs: Sequence[int], need_of: Mapping[SeriesId, int]
                 ) -> dict[SeriesId, _Windows]:
        """The valid windows' figures of every interface of one direction, for the `need`
        each one has."""
        rate_metric = f"interface_{direction}_bps"
        util_metric = f"interface_{direction}_util_pct"
        bps, util = selector(rate_metric, extra=where), selector(util_metric, extra=where)
        interior: dict[SeriesId, dict[str, float]] = defaultdict(dict)
        calls: list[Callable[[], list[Series]]] = []
        owners: list[tuple[int, str]] = []
        if grid.inside:
            a, b = grid.inside
            for need in needs:
                rates = _valid(bps, bps, need, "aggr")
                utils = _valid(util, bps, need, "avg")
                t1, t2 = THRESHOLDS
                levels = (f"clamp(ceil(({utils} - {t1}) / {t2 - t1}), 0, 2) ^ 15")
                calls += [
                    partial(self.client.instant,
                            'aggr_over_time(("count_over_time","avg_over_time",'
                            f'"max_over_time"), label_move({rates}, "rollup", "window")'
                            f'[{duration(b - a)}:{duration(WINDOW_MS)}])', b),
                    partial(self.client.instant,
                            'aggr_over_time(("count_over_time","sum_over_time"), '
                            f'({levels})[{duration(b - a)}:{duration(WINDOW_MS)}])', b)]
                owners += [(need, "rates"), (need, "levels")]
        for a, b in grid.edges:
            calls += [
                partial(self.client.instant,
                        f'aggr_over_time(("count_over_time","avg_over_time","max_over_time"), '
                        f'{bps}[{duration(b - a)}])', b - 1),
                partial(self.client.instant, f"avg_over_time({util}[{duration(b - a)}])",
                        b - 1)]
            owners += [(a, "edge"), (a, "edge_util")]
        edges: dict[SeriesId, dict[int, dict[str, float]]] = defaultdict(dict)
        for (owner, part), answer in zip(owners, self.client.many(calls), strict=True):
            for s in answer:
                sid = _sid(s.labels, drop=("rollup", "window"))
                if part in ("rates", "levels"):
                    if need_of.get(sid) != owner:
                        continue
                    name = ("levels_" if part == "levels" else s.labels.get("window", "") +
                            ":") + s.labels.get("rollup", "")
                    interior[sid][name] = s.value
                elif part == "edge":
                    edges[sid].setdefault(owner, {})[s.labels.get("rollup", "")] = s.value
                else:
                    edges[sid].setdefault(owner, {})["util"] = s.value
        figures = {}
        asks: dict[tuple[str, int], dict[SeriesId, tuple[float, ...]]] = defaultdict(dict)
        for sid, need in need_of.items():
            got = interior.get(sid, {})
            valid = [e for e in edges.get(sid, {}).values()
                     if e.get("count_over_time", 0) >= need]
            w = _Windows.of(got, valid)
            figures[sid] = w
            for kind in ("rates", "utils"):
                n_in, extra = w.n_inside(kind), w.edges(kind)
                r = rank_index(n_in + len(extra))
                if r is not None and n_in and grid.inside:
                    asks[(kind, need)][sid] = tuple(dict.fromkeys(
                        phi_for(j, n_in) for j in interior_ranks(r, n_in, len(extra))))
        a, b = grid.inside or (0, 0)
        for (kind, need), wanted in asks.items():

            def source(extra: list[str], kind: str = kind, need: int = need) -> str:
                rates = selector(rate_metric, extra=[*where, *extra])
                values = rates if kind == "rates" else selector(util_metric,
                                                                extra=[*where, *extra])
                return (f"{_valid(values, rates, need, 'avg')}[{duration(b - a)}:"
                        f"{duration(WINDOW_MS)}]")

            answers = self._quantiles(wanted, source, "device", len(need_of), b)
            for sid in wanted:
                w, values = figures[sid], answers.get(sid)
                if values is None:
                    continue
                n_in, extra = w.n_inside(kind), w.edges(kind)
                r = rank_index(n_in + len(extra))
                assert r is not None
                by_rank = {j: values[phi_for(j, n_in)]
                           for j in interior_ranks(r, n_in, len(extra))}
                w.set_p95(kind, merged_rank(r, by_rank, extra))
        for w in figures.values():
            w.finish()
        return figures

    def _traffic_from_raw(self, key: Key, direction: str,
                          min_samples_of: Mapping[str, int], default_min: int, lo: int,
                          hi: int) -> list[Traffic]:
        labels = dict(zip(INTERFACE_KEYS, key, strict=True))
        found = self._series("interface", bandwidth.SAMPLE_FIELDS, labels, lo, hi)
        return [t for t in bandwidth.from_series(found, dict(min_samples_of), default_min)
                if t.direction == direction]

    # -- latest (status) --------------------------------------------------------------------

    def latest(self, measurement: str, sel: Selection) -> list[Sample]:
        """The newest point of every series of `measurement` in the period: per series,
        the fields whose newest sample is at the series' newest time."""
        if measurement in TEXT_MEASUREMENTS:
            return []
        lo, hi = _period_ms(sel)
        found = self.client.instant(
            'aggr_over_time(("tlast_over_time","last_over_time"), '
            f"{self._fields_of(measurement, sel)}[{duration(hi - lo)}]) keep_metric_names",
            hi - 1)
        points: dict[SeriesId, dict[str, dict[str, float]]] = defaultdict(dict)
        field_of = _fields(measurement)
        for s in found:
            field = field_of(s.labels.get("__name__", ""))
            if field is None:
                continue
            points[_sid(s.labels, drop=("rollup", "__name__"))].setdefault(
                field, {})[s.labels.get("rollup", "")] = s.value
        samples = []
        for sid, fields in points.items():
            newest = max(_ms_of(f["tlast_over_time"]) for f in fields.values())
            samples.append(Sample(measurement, dict(sid), {
                name: _number(f["last_over_time"]) for name, f in fields.items()
                if _ms_of(f["tlast_over_time"]) == newest}, newest * MS))
        return samples

    def windows(self, measurement: str, fields: Sequence[str], sel: Selection, *,
                window_s: int) -> list[WindowSeries]:
        """Per series and window on the grid: count, mean, lowest and highest of each field
        (one `aggr_over_time` per field, the windows on the grid in one range query, the
        partial ones at the ends apart)."""
        lo, hi = _period_ms(sel)
        grid = _Grid.of(lo, hi, window_s * 1000)
        where = _where(sel, None)
        names = ("count_over_time", "avg_over_time", "min_over_time", "max_over_time")
        rollups = ",".join(quote(n) for n in names)

        def of(field: str) -> Callable[[int, str], str]:
            metric = selector(f"{measurement}_{field}", extra=where)
            return lambda width, offset: (f"aggr_over_time(({rollups}), "
                                          f"{metric}[{duration(width)}]{offset})")
        answers = self.client.many([partial(self._grid_points, grid, of(f)) for f in fields])
        cells: dict[SeriesId, dict[int, dict[str, dict[str, float]]]] = {}
        for field, answer in zip(fields, answers, strict=True):
            for labels, start, value in answer:
                cell = cells.setdefault(_sid(labels), {}).setdefault(start, {})
                cell.setdefault(field, {})[labels["rollup"]] = value
        found = []
        for sid, starts in sorted(cells.items(), key=lambda item: sorted(item[0])):
            found.append(WindowSeries(dict(sid), tuple(
                Window(start * MS, {f: int(v["count_over_time"]) for f, v in got.items()},
                       {f: v["avg_over_time"] for f, v in got.items()},
                       {f: v["min_over_time"] for f, v in got.items()},
                       {f: v["max_over_time"] for f, v in got.items()})
                for start, got in sorted(starts.items()))))
        return found

    def _grid_points(self, grid: _Grid, expression: Callable[[int, str], str]
                     ) -> list[tuple[dict[str, str], int, float]]:
        """An expression of one window over each window of the grid: (labels, window
        start ms, value) of every series."""
        found = []
        if grid.inside:
            a, b = grid.inside
            for s in self.client.range(expression(grid.width, " offset 1ms"), a + grid.width,
                                       b, grid.width):
                found += [(s.labels, t - grid.width, v) for t, v in s.points]
        for a, b in grid.edges:
            for s in self.client.instant(expression(b - a, ""), b - 1):
                found.append((s.labels, a // grid.width * grid.width, s.value))
        return found

    def points(self, measurement: str, sel: Selection) -> list[Sample]:
        """Every point of a sparse measurement in the period, oldest first, with its numeric
        fields (none of TEXT_MEASUREMENTS: without their strings they would mislead)."""
        if measurement in TEXT_MEASUREMENTS:
            return []
        lo, hi = _period_ms(sel)
        raws = self.client.export([self._fields_of(measurement, sel)], lo, hi)
        return _to_samples(measurement, raws)

    def _fields_of(self, measurement: str, sel: Selection) -> str:
        return "{" + ",".join([f"__name__=~{quote(_escape_re(measurement) + '_.+')}",
                               *_where(sel, None)]) + "}"

    # -- the report's uplinks and loss -------------------------------------------------------

    def uplink_usage(self, sel: Selection, uplinks_: Sequence[UplinkQuery],
                     above_pct: float) -> dict[tuple[str, str], UplinkUsage]:
        """Hourly means, and the valid 5-minute windows above `above_pct`, per direction,
        over the points of every series the uplink names (by ifName, ifAlias or ifIndex)
        together. Uplinks named alike (`uplink: wan` on every router) are asked together,
        per (site, device)."""
        lo, hi = _period_ms(sel)
        hours, fives = _Grid.of(lo, hi, HOUR_MS), _Grid.of(lo, hi, WINDOW_MS)
        groups: dict[tuple[str, int], list[UplinkQuery]] = defaultdict(list)
        for q in uplinks_:
            groups[(q.uplink.interface, q.need)].append(q)
        calls, owners = [], []
        for (interface, need), members in groups.items():
            for devices in _chunks(sorted({q.uplink.device for q in members})):
                where = f"{matcher('device', devices)}"
                for d in _DIRECTIONS:
                    rate = _named(f"interface_{d}_bps", interface)
                    util = _named(f"interface_{d}_util_pct", interface)
                    calls += [partial(self._grid_means, where, rate, hours),
                              partial(self._grid_above, where, util, rate, need, above_pct,
                                      fives)]
                    owners += [(interface, d, "hourly"), (interface, d, "above")]
        results: dict[tuple[str, str, str, str, str], list[tuple[int, float]]] = {}
        for (interface, d, part), answer in zip(owners, self.client.many(calls), strict=True):
            for (site, device), points in answer.items():
                results[(site, device, interface, d, part)] = points
        found = {}
        for q in uplinks_:
            u = q.uplink
            hourly, above = {}, {}
            for d in _DIRECTIONS:
                hourly[d] = {t // 1000: v for t, v in
                             results.get((u.site, u.device, u.interface, d, "hourly"), [])}
                above[d] = [(t // 1000, v) for t, v in
                            results.get((u.site, u.device, u.interface, d, "above"), [])]
            found[(u.device, u.interface)] = UplinkUsage(hourly, above)
        return found

    def _grid_means(self, where: str, series: Rollup, grid: _Grid
                    ) -> dict[tuple[str, str], list[tuple[int, float]]]:
        """Per (site, device): (window start ms, mean of all the points in it)."""
        def mean(width: int, offset: str) -> str:
            return (f"sum by (site, device) ({series('sum_over_time', width, offset)}) / "
                    f"sum by (site, device) ({series('count_over_time', width, offset)})")
        return self._on_grid(where, grid, mean)

    def _grid_above(self, where: str, util: Rollup, rate: Rollup, need: int,
                    above_pct: float, grid: _Grid
                    ) -> dict[tuple[str, str], list[tuple[int, float]]]:
        """Per (site, device): (window start ms, mean utilisation) of the windows with at
        least `need` rates whose mean utilisation is above `above_pct`."""
        def above(width: int, offset: str) -> str:
            return (f"(sum by (site, device) ({util('sum_over_time', width, offset)}) / "
                    f"sum by (site, device) ({util('count_over_time', width, offset)}) > "
                    f"{float(above_pct)!r}) and (sum by (site, device) "
                    f"({rate('count_over_time', width, offset)}) >= {need})")
        return self._on_grid(where, grid, above)

    def _on_grid(self, where: str, grid: _Grid, expression: Callable[[int, str], str]
                 ) -> dict[tuple[str, str], list[tuple[int, float]]]:
        """An expression of one window over each window of the grid, with the label
        filters `where` in a WITH template (written once, however often the expression
        uses it): per (site, device), (window start ms, value)."""
        found: dict[tuple[str, str], list[tuple[int, float]]] = defaultdict(list)
        for labels, start, value in self._grid_points(
                grid, lambda width, offset: f"WITH (lw = {{{where}}}) "
                                            f"{expression(width, offset)}"):
            found[(labels.get("site", ""), labels.get("device", ""))].append((start, value))
        return {key: sorted(points) for key, points in found.items()}

    def loss_while_up(self, sel: Selection) -> dict[tuple[str, str], float]:
        """Σreceived ÷ Σsent over the cycles with up = 1. The ping probe sets up = 1 exactly
        when something came back, so a failed cycle received nothing: Σreceived is the
        period's, and Σsent is the period's less the failed cycles × the echoes per cycle
        (when that number changed within the period, the target is read raw)."""
        lo, hi = _period_ms(sel)
        where = _where(sel, "target")
        sent, received, down = self.client.many([
            partial(self._totals, selector("ping_sent", extra=where),
                    ("sum_over_time", "min_over_time", "max_over_time"), lo, hi),
            partial(self._totals, selector("ping_received", extra=where),
                    ("sum_over_time",), lo, hi),
            partial(self._totals, f"count_eq_over_time({selector('ping_up', extra=where)}"
                    f"[{duration(hi - lo)}], 0)", (), lo, hi)])
        keys = _group(sent, ("site", "target"))
        failed_of = _by_key(down, ("site", "target"), "")
        received_of = _by_key(received, ("site", "target"), "sum_over_time")
        found: dict[tuple[str, str], float] = {}
        for key, ids in keys.items():
            failed = failed_of.get(key, 0.0)
            s = sent[ids[0]]
            if len(ids) > 1 or (failed and s["min_over_time"] != s["max_over_time"]):
                found.update(self._loss_from_raw(key, lo, hi))
                continue
            total = s["sum_over_time"] - failed * s["min_over_time"]
            got = received_of.get(key, 0.0)
            if total:
                found[(key[0], key[1])] = 100.0 * (1 - got / total)
        return found

    def _loss_from_raw(self, key: Key, lo: int, hi: int) -> dict[tuple[str, str], float]:
        labels = {"site": key[0], "target": key[1]}
        found = self._series("ping", uplinks.PING_FIELDS, labels, lo, hi)
        return uplinks.loss_from_series({(key[0], key[1]): _one(found, labels,
                                                                uplinks.PING_FIELDS)})

    # -- shared -----------------------------------------------------------------------------

    def _totals(self, match: str, functions: Sequence[str], lo: int, hi: int
                ) -> dict[SeriesId, dict[str, float]]:
        """Rollups over the period per series: series → function → value. With no
        functions, `match` is a whole expression and its value is under ""."""
        if functions:
            names = ",".join(quote(f) for f in functions)
            query = f"aggr_over_time(({names}), {match}[{duration(hi - lo)}])"
        else:
            query = match
        found: dict[SeriesId, dict[str, float]] = defaultdict(dict)
        for s in self.client.instant(query, hi - 1):
            name = s.labels.get("rollup", functions[0] if len(functions) == 1 else "")
            found[_sid(s.labels)][name] = s.value
        return found

    def _quantiles(self, wanted: Mapping[SeriesId, tuple[float, ...]],
                   source: Callable[[list[str]], str], narrow: str, everyone: int,
                   at_ms: int) -> dict[SeriesId, dict[float, float]]:
        """Per series, its quantiles at its own φs of the range expression `source`.

        When the answer stays small, every φ any series needs is asked of every series in
        one pass (a series is sorted once for all its quantiles). Else series asking the
        same φs are asked together: in one query over every series when they are most of
        them (the others' answers are dropped), else over those whose `narrow` label
        (device, target) is one of theirs, in as many queries as the query length needs."""
        every_phi = sorted({phi for phis in wanted.values() for phi in phis})
        calls: list[tuple[frozenset[SeriesId], Callable[[], list[Series]]]] = []
        if len(every_phi) * everyone <= MAX_ANSWER_POINTS:
            # one sort of each series answers every φ: ask them all of everyone at once
            for part in _phi_chunks(every_phi):
                query = (f'quantiles_over_time("q", {", ".join(map(repr, part))}, '
                         f"{source([])})")
                calls.append((frozenset(wanted), partial(self.client.instant, query, at_ms)))
        else:
            groups: dict[tuple[float, ...], list[SeriesId]] = defaultdict(list)
            for sid, phis in wanted.items():
                groups[phis].append(sid)
            for phis, sids in groups.items():
                names = ", ".join(map(repr, phis))
                if 2 * len(sids) >= everyone:
                    chunks: list[list[str]] = [[]]
                else:
                    values = sorted({dict(sid).get(narrow, "") for sid in sids})
                    chunks = [[matcher(narrow, part)] for part in _chunks(values)]
                for extra in chunks:
                    query = f'quantiles_over_time("q", {names}, {source(extra)})'
                    calls.append((frozenset(sids), partial(self.client.instant, query, at_ms)))
        found: dict[SeriesId, dict[float, float]] = defaultdict(dict)
        answers = self.client.many([call for _, call in calls])
        for (ok, _), answer in zip(calls, answers, strict=True):
            for s in answer:
                sid = _sid(s.labels, drop=("q", "rollup"))
                if sid in ok:
                    found[sid][float(s.labels["q"])] = s.value
        return {sid: values for sid, values in found.items()
                if set(wanted[sid]) <= set(values)}

    def _series(self, measurement: str, fields: Sequence[str], labels: Mapping[str, str],
                lo: int, hi: int) -> list[columns.Series]:
        """The points of one target or interface as the local history's columns (one
        Series per tag set, in time order), with `fields` only: the same reductions then
        give the same figures."""
        names = "|".join(_escape_re(f"{measurement}_{f}") for f in dict.fromkeys(fields))
        match = "{" + ",".join([f"__name__=~{quote(names)}",
                                *(f"{k}={quote(v)}" for k, v in sorted(labels.items()))]) + "}"
        samples = _to_samples(measurement, self.client.export([match], lo, hi - 1))
        found: dict[SeriesId, columns.Series] = {}
        for sample in samples:
            sid = _sid(sample.tags)
            if sid not in found:
                found[sid] = columns.Series(sample.tags,
                                            columns={f: array("d") for f in fields})
            series = found[sid]
            series.times.append(sample.time_ns)
            for f in fields:
                value = sample.fields.get(f)
                series.columns[f].append(float(value) if isinstance(value, int | float)
                                         and not isinstance(value, bool) else math.nan)
        return list(found.values())


# -- windows of one interface ------------------------------------------------------------------

@dataclass(frozen=True)
class _Grid:
    """A period cut into windows of `width` on the epoch grid: the aligned part `inside`
    (start, end), and the partial windows at either end."""

    width: int
    inside: tuple[int, int] | None
    edges: tuple[tuple[int, int], ...]

    @classmethod
    def of(cls, lo: int, hi: int, width: int) -> _Grid:
        a = -(-lo // width) * width
        b = hi // width * width
        if a > b:                       # the whole period inside one window
            return cls(width, None, ((lo, hi),))
        edges = tuple(e for e in ((lo, a), (b, hi)) if e[0] < e[1])
        return cls(width, (a, b) if a < b else None, edges)


class _Windows:
    """What the definition needs of one interface's valid windows, put together from the
    aligned windows' rollups and the partial windows at the ends."""

    def __init__(self) -> None:
        self.n_rates_inside = 0
        self.n_utils_inside = 0
        self.edge_means: list[float] = []
        self.edge_utils: list[float] = []
        self.edge_max: list[float] = []
        self.inside_mean: float | None = None
        self.inside_max: float | None = None
        self.levels = 0.0
        self.p95: float | None = None
        self.util_p95: float | None = None
        self.n = 0
        self.mean: float | None = None
        self.highest: float | None = None
        self.above: tuple[int, ...] = (0,) * len(THRESHOLDS)

    @classmethod
    def of(cls, inside: Mapping[str, float], edges: Sequence[Mapping[str, float]]) -> _Windows:
        w = cls()
        w.n_rates_inside = int(inside.get("avg_over_time:count_over_time", 0))
        w.inside_mean = inside.get("avg_over_time:avg_over_time")
        w.inside_max = inside.get("max_over_time:max_over_time")
        w.n_utils_inside = int(inside.get("levels_count_over_time", 0))
        w.levels = inside.get("levels_sum_over_time", 0.0)
        for e in edges:
            w.edge_means.append(e["avg_over_time"])
            w.edge_max.append(e["max_over_time"])
            if "util" in e:
                w.edge_utils.append(e["util"])
        return w

    def n_inside(self, kind: str) -> int:
        return self.n_rates_inside if kind == "rates" else self.n_utils_inside

    def edges(self, kind: str) -> list[float]:
        return self.edge_means if kind == "rates" else self.edge_utils

    def set_p95(self, kind: str, value: float) -> None:
        if kind == "rates":
            self.p95 = value
        else:
            self.util_p95 = value

    def finish(self) -> None:
        self.n = self.n_rates_inside + len(self.edge_means)
        if not self.n:
            return
        if self.edge_means:
            total = (self.inside_mean or 0.0) * self.n_rates_inside + sum(self.edge_means)
            self.mean = total / self.n
        else:
            self.mean = self.inside_mean
        highest = [*self.edge_max, *([self.inside_max] if self.inside_max is not None else [])]
        self.highest = max(highest) if highest else None
        only_low, high = int(self.levels) % _SPLIT, int(self.levels) // _SPLIT
        counts = [only_low + high, high]
        for u in self.edge_utils:
            counts = [c + (u > th) for c, th in zip(counts, THRESHOLDS, strict=True)]
        self.above = tuple(counts)
        if self.n_rates_inside == 0:
            self.p95 = merged_rank(rank_index(self.n) or 0, {}, self.edge_means)
        n_utils = self.n_utils_inside + len(self.edge_utils)
        if self.n_utils_inside == 0 and n_utils:
            self.util_p95 = merged_rank(rank_index(n_utils) or 0, {}, self.edge_utils)


def _valid(values: str, rates: str, need: int, kind: str) -> str:
    """Per 5-minute window on the grid, `values` (mean and highest of the rates with
    "aggr", or their mean with "avg") where the window holds at least `need` rates."""
    w = duration(WINDOW_MS)
    count = f"count_over_time({rates}[{w}] offset 1ms)"
    if kind == "aggr":
        return (f'(aggr_over_time(("avg_over_time","max_over_time"), {values}[{w}] offset 1ms)'
                f" if ignoring(rollup) group_left {count} >= {need})")
    return f"(avg_over_time({values}[{w}] offset 1ms) if {count} >= {need})"


Rollup = Callable[[str, int, str], str]     # (function, window ms, offset) → expression


def _named(metric: str, interface: str) -> Rollup:
    """A rollup over the series an uplink names by ifName, ifAlias or ifIndex, among those
    the WITH template `lw` selects: each series once, however many of the three it
    matches (`or` keeps the first of equal label sets)."""
    def expression(function: str, width: int, offset: str) -> str:
        return "(" + " or ".join(
            f"{function}({metric}{{lw, {tag}={quote(interface)}}}[{duration(width)}]{offset})"
            for tag in UPLINK_TAGS) + ")"
    return expression


# -- small helpers -----------------------------------------------------------------------------

def _period_ms(sel: Selection) -> tuple[int, int]:
    return -(-sel.since_ns // MS), -(-sel.until_ns // MS)


def _where(sel: Selection, tag: str | None) -> list[str]:
    parts = []
    if sel.sites:
        parts.append(matcher("site", sorted(sel.sites)))
    if sel.targets and tag:
        parts.append(matcher(tag, sorted(sel.targets)))
    return parts


def _sid(labels: Mapping[str, str], drop: Sequence[str] = ("rollup",)) -> SeriesId:
    return frozenset((k, v) for k, v in labels.items() if k not in drop and k != "__name__")


def _exact(sid: SeriesId, metric: str) -> str:
    """A selector of exactly the series `sid` of `metric` (a series with more labels would
    share its key and be read raw instead, see the module's docstring)."""
    return selector(metric, dict(sid))


def _chunks(values: Sequence[str]) -> list[list[str]]:
    """`values` cut so that a regular expression of each part stays within the server's
    query length."""
    parts: list[list[str]] = [[]]
    size = 0
    for value in values:
        cost = len(quote(value)) * 2 + 1
        if parts[-1] and size + cost > MAX_QUERY_CHARS // 2:
            parts.append([])
            size = 0
        parts[-1].append(value)
        size += cost
    return parts


def _phi_chunks(phis: Sequence[float]) -> list[list[float]]:
    """φs cut so that each query stays within the server's query length."""
    per = max(1, (MAX_QUERY_CHARS - 2000) // 24)
    return [list(phis[i:i + per]) for i in range(0, len(phis), per)]


def _group(series: Mapping[SeriesId, object], keys: Sequence[str]
           ) -> dict[tuple[str, ...], list[SeriesId]]:
    found: dict[tuple[str, ...], list[SeriesId]] = defaultdict(list)
    for sid in series:
        labels = dict(sid)
        found[tuple(labels.get(k, "") for k in keys)].append(sid)
    return found


def _by_key(series: Mapping[SeriesId, Mapping[str, float]], keys: Sequence[str],
            function: str) -> dict[tuple[str, ...], float]:
    """Per key, one function's value summed over the key's series."""
    found: dict[tuple[str, ...], float] = defaultdict(float)
    for sid, values in series.items():
        if function in values:
            labels = dict(sid)
            found[tuple(labels.get(k, "") for k in keys)] += values[function]
    return dict(found)


def _ms_of(seconds: float) -> int:
    return round(seconds * 1000)


def _event(e: Event) -> Event:
    return Event(e.time_ns * MS, e.delta, e.elapsed_ns * MS)


def _pieces(samples: Mapping[int, int], covered: Sequence[tuple[int, int]]
            ) -> list[tuple[int, int, list[int]]]:
    """The spans read, merged where they overlap or touch, each with its sample times."""
    merged: list[list[int]] = []
    for a, b in sorted(covered):
        if merged and a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    times = sorted(samples)
    out = []
    for a, b in merged:
        inside = [t for t in times if a <= t < b]
        if inside:
            out.append((a, b, inside))
    return out


def _fields(measurement: str) -> Callable[[str], str | None]:
    """metric name → the field of `measurement` it holds (None for another measurement's:
    `host_net_rx_bytes` is host_net's, not host's)."""
    from linkwatch.collector.registry import probe_kinds

    prefix = measurement + "_"
    longer = tuple(m + "_" for p in probe_kinds() for m in p.measurements
                   if m != measurement and m.startswith(prefix))

    def field(metric: str) -> str | None:
        if not metric.startswith(prefix) or metric.startswith(longer):
            return None
        return metric[len(prefix):]
    return field


def _to_samples(measurement: str, raws: Sequence[Raw]) -> list[Sample]:
    """Raw series of a measurement's fields put back together as points, oldest first."""
    points: dict[tuple[SeriesId, int], dict[str, float | int]] = defaultdict(dict)
    field_of = _fields(measurement)
    for raw in raws:
        field = field_of(raw.labels.get("__name__", ""))
        if field is None:
            continue
        sid = _sid(raw.labels, drop=("__name__",))
        for t, v in zip(raw.timestamps, raw.values, strict=True):
            points[(sid, t)][field] = _number(v)
    return sorted((Sample(measurement, dict(sid), fields, t * MS)
                   for (sid, t), fields in points.items()), key=lambda s: s.time_ns)


def _one(found: list[columns.Series], labels: Mapping[str, str],
         fields: Sequence[str]) -> columns.Series:
    """The series of one target merged (whatever its address was), empty when none."""
    merged = columns.group(found, lambda tags: 0)
    return merged.get(0) or columns.Series(dict(labels), columns={f: array("d") for f in fields})


def _number(value: float) -> float | int:
    """An integral value as int (counters, up, sent), as InfluxDB gives integer fields."""
    return int(value) if value.is_integer() and abs(value) < 2**53 else value


def _escape_re(text: str) -> str:
    from linkwatch.agent.query.metricsql import regex_literal

    return regex_literal(text)
