"""The query backend over InfluxQL: the database reduces the data, Python gets the summary.

Up/down: per target and hour, count and sum of `up` (two grouped statements), then the raw
points of only the hours that may hold a change or a gap. Latency: aggregates over the raw
points. Bandwidth: the 5-minute windows (count, mean rate, mean utilisation) of each
interface, the percentiles taken over them. InfluxDB 1.6 answers a subquery or a
GROUP BY time() grouped by tag many times slower than the same per series, and runs the
statements of one request, and the aggregates of one statement, one after another: so
windowed statements are per series, and independent statements go in requests at once.
Every name from the command line enters a statement through quote_ident/quote_string.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from linkwatch.agent.config.schema import DIRECTIONS as _DIRECTIONS
from linkwatch.agent.config.schema import InfluxOutput
from linkwatch.agent.query.bandwidth import (
    DIRECTIONS,
    INTERFACE_KEYS,
    WINDOW_S,
    Traffic,
    summary,
)
from linkwatch.agent.query.influxql import Series, query, quote_ident, quote_string
from linkwatch.agent.query.latency import Latency, loss_pct
from linkwatch.agent.query.selection import Selection
from linkwatch.agent.query.states import Event, UpSeries, events_of
from linkwatch.agent.query.uplinks import UplinkQuery, UplinkUsage
from linkwatch.agent.query.windows import Window, WindowSeries
from linkwatch.collector.sample import Sample
from linkwatch.collector.snmp.check import UPLINK_TAGS

DEFAULT_INTERVAL_S = 60.0
HOUR_S = 3600
HOUR_NS = HOUR_S * 10**9


class InfluxBackend:
    name = "InfluxDB"

    def __init__(self, output: InfluxOutput, *, workers: int = 4,
                 statements_per_request: int = 40) -> None:
        self.output = output
        self.workers = workers
        self.per_request = statements_per_request

    @property
    def description(self) -> str:
        return f"InfluxDB at {self.output.shown_url} (database {self.output.database})"

    @property
    def source(self) -> tuple[str, str]:
        return "influx", f"{self.output.shown_url} ({self.output.database})"

    def close(self) -> None:
        """Nothing to release: every request opens and closes its own connection."""

    def _run(self, statements: Sequence[str], *, per_request: int | None = None,
             epoch: str = "ns") -> list[list[Series]]:
        """Results of each statement, in order. Statements go in several requests at once:
        InfluxDB runs the statements of one request one after another."""
        size = per_request or self.per_request
        chunks = [statements[i:i + size] for i in range(0, len(statements), size)]
        if len(chunks) <= 1:
            return query(self.output, ";\n".join(statements), epoch=epoch) if statements else []
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(min(self.workers, len(chunks))) as pool:
            answers = list(pool.map(
                lambda c: query(self.output, ";\n".join(c), epoch=epoch), chunks))
        return [result for answer in answers for result in answer]

    def _series(self, measurement: str, sel: Selection, tag: str | None,
                keys: Sequence[str]) -> list[tuple[str, ...]]:
        """The distinct values of `keys` among the series of `measurement` (from the index,
        without reading points)."""
        from linkwatch.agent.datamodel.lineprotocol import decode

        conditions = [c for c in (_tags_where(sel, tag),) if c]
        where = f" WHERE {conditions[0]}" if conditions else ""
        (result,) = self._run([f"SHOW SERIES FROM {quote_ident(measurement)}{where}"])
        found = set()
        for series in result:
            for (key,) in series.values:
                tags = decode(f"{key} x=1i 0".encode()).tags
                found.add(tuple(tags.get(k, "") for k in keys))
        return sorted(found)

    # -- up/down ----------------------------------------------------------------------------

    def up_series(self, sel: Selection, *, measurement: str, tag: str,
                  intervals: Mapping[str, float], field: str = "up") -> list[UpSeries]:
        """Per target: count/sum, first and last point, and the points where up changed or a
        gap ended.

        Two grouped statements give each target's samples and up samples per hour (what
        InfluxDB 1.6 answers near its speed for a plain aggregate). Only the hours that may
        hold an event are then read point by point: hours that are not *clean* (the full
        number of cycles for the interval, all up or all down), the first and last hour, an
        hour whose state differs from the clean hour before it, and the hours next to any
        of these. A month with few outages is thus read at little more than the cost of one
        aggregate, and the events are computed from the points exactly as from the whole
        series: a gap (more than GAP_INTERVALS intervals) costs its hour at least one cycle.
        """
        m, t, f = quote_ident(measurement), quote_ident(tag), quote_ident(field)
        group = f"GROUP BY time({HOUR_S}s), {quote_ident('site')}, {t} fill(none)"
        where = _where(sel, tag)
        counts, sums = self._run([f"SELECT count({f}) FROM {m} WHERE {where} {group}",
                                  f"SELECT sum({f}) FROM {m} WHERE {where} {group}"],
                                 per_request=1)
        hours: dict[tuple[str, str], dict[int, list[int]]] = {}
        for series in counts:
            key = (series.tags.get("site", ""), series.tags.get(tag, ""))
            hours[key] = {int(h): [int(c), 0] for h, c in series.values if c}
        for series in sums:
            by_hour = hours.get((series.tags.get("site", ""), series.tags.get(tag, "")), {})
            for h, total in series.values:
                if int(h) in by_hour:
                    by_hour[int(h)][1] = int(total or 0)
        names = sorted(k for k, v in hours.items() if v)
        where_of = {key: f"{quote_ident('site')} = {quote_string(key[0])} AND {t} = "
                         f"{quote_string(key[1])}" for key in names}
        interval = {key: intervals[key[1]] for key in names if key[1] in intervals}
        unknown = [key for key in names if key not in interval]
        if unknown:
            inferred = self._run([
                f"SELECT median(e) FROM (SELECT elapsed({f}, 1ms) AS e FROM {m} WHERE "
                f"{_where(sel, None)} AND {where_of[key]})" for key in unknown])
            for key, result in zip(unknown, inferred, strict=True):
                value = result[0].values[0][1] if result and result[0].values else None
                interval[key] = float(value) / 1000 if value else DEFAULT_INTERVAL_S
        spans = {key: _event_spans(hours[key], interval[key]) for key in names}
        statements, owners = [], []
        for key in names:
            for a, b in spans[key]:
                lo, hi = max(a, sel.since_ns), min(b, sel.until_ns)
                statements.append(f"SELECT {f} FROM {m} WHERE time >= {lo} AND time < {hi} "
                                  f"AND {where_of[key]}")
                owners.append((key, a))
        points: dict[tuple[str, str], list[tuple[int, list[list[Any]]]]] = {
            k: [] for k in names}
        for (key, a), result in zip(owners, self._run(statements), strict=True):
            points[key].append((a, _values(result)))
        found = []
        for key in names:
            step = int(interval[key] * 1e9)
            events: list[Event] = []
            for a, rows in points[key]:
                rows = [r for r in rows if r[1] is not None]
                times, ups = [int(r[0]) for r in rows], [int(r[1]) for r in rows]
                # the span starts an hour early so its first point has the one before it
                events += [e for e in events_of(times, ups, step) if e.time_ns >= a + HOUR_NS]
            first, last = _first_last(points[key])
            if first is None or last is None:
                continue
            counted = hours[key].values()
            found.append(UpSeries(
                site=key[0], target=key[1], interval_s=interval[key],
                count=sum(c for c, _ in counted), up_count=sum(s for _, s in counted),
                first_ns=first[0], first_up=first[1], last_ns=last[0], last_up=last[1],
                events=tuple(events)))
        return found

    # -- latency ----------------------------------------------------------------------------

    def latency(self, sel: Selection) -> list[Latency]:
        """Aggregates over the raw points, in three statements sent at once: InfluxDB runs
        the aggregates of one statement one after another."""
        group = f"GROUP BY {quote_ident('site')}, {quote_ident('target')}"
        where = f"FROM {quote_ident('ping')} WHERE {_where(sel, 'target')} {group}"
        parts = self._run([
            f"SELECT count(up) AS samples, sum(sent) AS sent, sum(received) AS received {where}",
            f"SELECT count(rtt_avg_ms) AS rtt_samples, median(rtt_avg_ms) AS median, "
            f"percentile(rtt_avg_ms, 95) AS p95 {where}",
            f"SELECT mean(jitter_ms) AS jitter {where}"], per_request=1)
        columns: dict[tuple[str, str], dict[str, Any]] = {}
        for result in parts:
            for s in result:
                row = columns.setdefault((s.tags.get("site", ""), s.tags.get("target", "")), {})
                row.update(zip(s.columns[1:], s.values[0][1:], strict=True))
        found = []
        for (site, target), row in columns.items():
            if "samples" not in row:
                continue
            found.append(Latency(
                site=site, target=target, samples=int(row["samples"] or 0),
                rtt_samples=int(row.get("rtt_samples") or 0), rtt_median_ms=row.get("median"),
                rtt_p95_ms=row.get("p95"), loss_pct=loss_pct(row.get("sent"), row.get("received")),
                jitter_ms=row.get("jitter")))
        return found

    # -- bandwidth --------------------------------------------------------------------------

    def traffic(self, sel: Selection, *, min_samples_of: Mapping[str, int],
                default_min: int) -> list[Traffic]:
        """Per interface: its 5-minute windows (count, mean rate and mean utilisation per
        direction) from the database, one statement per interface; the percentiles are
        taken over the windows. InfluxDB 1.6 spends its time per window and aggregate, so
        the highest rate is not a windowed aggregate: it is the interface's highest point,
        kept when its window is valid, and only otherwise looked up per window."""
        interfaces = self._series("interface", sel, "device", INTERFACE_KEYS)
        m = quote_ident("interface")
        columns = ", ".join(
            f"count({b}), mean({b}), mean({u})"
            for b, u in ((quote_ident(f"{d}_bps"), quote_ident(f"{d}_util_pct"))
                         for d in DIRECTIONS))
        wheres, statements = [], []
        for key in interfaces:
            where = _where(sel, None) + "".join(
                f" AND {quote_ident(k)} = {quote_string(v)}"
                for k, v in zip(INTERFACE_KEYS, key, strict=True))
            wheres.append(where)
            statements += [
                f"SELECT {columns} FROM {m} WHERE {where} GROUP BY time({WINDOW_S}s) "
                "fill(none)",
                f"SELECT {quote_ident('speed_bps')} FROM {m} WHERE {where} "
                "ORDER BY time DESC LIMIT 1",
                # a lone selector answers with the time of its point
                *(f"SELECT max({quote_ident(f'{d}_bps')}) FROM {m} WHERE {where}"
                  for d in DIRECTIONS),
            ]
        per = 2 + len(DIRECTIONS)
        # window starts and point times in seconds: smaller answers, and 5-minute windows
        # start on whole seconds
        results = self._run(statements, epoch="s")
        valid: dict[tuple[int, int], list[list[Any]]] = {}
        missing = []
        for i, key in enumerate(interfaces):
            rows = _values(results[per * i])
            need = min_samples_of.get(key[1], default_min)
            for j, _ in enumerate(DIRECTIONS):
                c = 1 + 3 * j
                windows = [r for r in rows if r[c] is not None and r[c] >= need]
                valid[(i, j)] = windows
                top = _values(results[per * i + 2 + j])
                if windows and not (top and top[0][1] is not None and _window_of(top[0][0])
                                    in {r[0] for r in windows}):
                    missing.append((i, j))
        highest_of: dict[tuple[int, int], float] = {}
        fallback = self._run([
            f"SELECT max({quote_ident(f'{DIRECTIONS[j]}_bps')}) FROM {m} WHERE {wheres[i]} "
            f"GROUP BY time({WINDOW_S}s) fill(none)" for i, j in missing], epoch="s")
        for (i, j), result in zip(missing, fallback, strict=True):
            starts = {r[0] for r in valid[(i, j)]}
            highest_of[(i, j)] = max(r[1] for r in _values(result) if r[0] in starts)
        found = []
        for i, key in enumerate(interfaces):
            speed = _values(results[per * i + 1])
            speed_bps = float(speed[0][1]) if speed and speed[0][1] is not None else None
            for j, direction in enumerate(DIRECTIONS):
                windows, mean, util = valid[(i, j)], 2 + 3 * j, 3 + 3 * j
                if not windows:
                    continue
                top = _values(results[per * i + 2 + j])
                traffic = summary(
                    key, direction, [r[mean] for r in windows],
                    [r[util] for r in windows if r[util] is not None],
                    highest_of.get((i, j), top[0][1] if top else None), speed_bps)
                if traffic is not None:
                    found.append(traffic)
        return found

    # -- latest (status) --------------------------------------------------------------------

    def latest(self, measurement: str, sel: Selection) -> list[Sample]:
        """The newest point of every series of `measurement` in the period."""
        return self._samples(measurement, sel, "ORDER BY time DESC LIMIT 1")

    def points(self, measurement: str, sel: Selection) -> list[Sample]:
        """Every point of a sparse measurement (`path`) in the period, oldest first."""
        return sorted(self._samples(measurement, sel, ""), key=lambda s: s.time_ns)

    def windows(self, measurement: str, fields: Sequence[str], sel: Selection, *,
                window_s: int) -> list[WindowSeries]:
        """count, mean, min and max of each field per window and series: one statement per
        field, sent at once (InfluxDB runs the aggregates of a statement one by one)."""
        m = quote_ident(measurement)
        results = self._run([
            f"SELECT count({f}), mean({f}), min({f}), max({f}) FROM {m} WHERE "
            f"{_where(sel, None)} GROUP BY time({int(window_s)}s), * fill(none)"
            for f in map(quote_ident, fields)], per_request=1)
        by_series: dict[tuple[tuple[str, str], ...],
                        dict[int, dict[str, tuple[int, float, float, float]]]] = {}
        for name, result in zip(fields, results, strict=True):
            for series in result:
                # GROUP BY * names every tag key of the measurement, "" where a series has none
                key = tuple(sorted((k, v) for k, v in series.tags.items() if v))
                for start, count, mean, low, high in series.values:
                    if count:
                        by_series.setdefault(key, {}).setdefault(int(start), {})[name] = (
                            int(count), float(mean), float(low), float(high))
        found = []
        for key, starts in sorted(by_series.items()):
            found.append(WindowSeries(dict(key), tuple(
                Window(start, {f: v[0] for f, v in got.items()},
                       {f: v[1] for f, v in got.items()}, {f: v[2] for f, v in got.items()},
                       {f: v[3] for f, v in got.items()})
                for start, got in sorted(starts.items()))))
        return found

    def _samples(self, measurement: str, sel: Selection, tail: str) -> list[Sample]:
        (result,) = self._run([
            f"SELECT * FROM {quote_ident(measurement)} WHERE {_where(sel, None)} "
            f"GROUP BY * {tail}"])
        samples = []
        for series in result:
            for row in series.rows():
                time_ns = int(row.pop("time"))
                fields = {k: v for k, v in row.items() if v is not None}
                samples.append(Sample(measurement, series.tags, fields, time_ns))
        return samples


    # -- the report's uplinks and loss -------------------------------------------------------

    def uplink_usage(self, sel: Selection, uplinks: Sequence[UplinkQuery],
                     above_pct: float) -> dict[tuple[str, str], UplinkUsage]:
        """Hourly means, and the valid 5-minute windows above `above_pct`, per direction:
        two statements per uplink and direction, sent at once."""
        m = quote_ident("interface")
        statements = []
        for q in uplinks:
            u = q.uplink
            where = (f"{_where(sel, None)} AND {quote_ident('site')} = {quote_string(u.site)} "
                     f"AND {quote_ident('device')} = {quote_string(u.device)} AND ("
                     + " OR ".join(f"{quote_ident(k)} = {quote_string(u.interface)}"
                                   for k in UPLINK_TAGS) + ")")
            for d in _DIRECTIONS:
                bps, util = quote_ident(f"{d}_bps"), quote_ident(f"{d}_util_pct")
                statements += [
                    f"SELECT mean({bps}) FROM {m} WHERE {where} GROUP BY time({HOUR_S}s) "
                    "fill(none)",
                    f"SELECT u FROM (SELECT mean({util}) AS u, count({bps}) AS n FROM {m} "
                    f"WHERE {where} GROUP BY time({WINDOW_S}s) fill(none)) "
                    f"WHERE n >= {q.need} AND u > {float(above_pct)}"]
        results = self._run(statements, epoch="s", per_request=len(_DIRECTIONS) * 2)
        found = {}
        per = 2 * len(_DIRECTIONS)
        for i, q in enumerate(uplinks):
            hourly, above = {}, {}
            for j, d in enumerate(_DIRECTIONS):
                hours, windows = results[per * i + 2 * j], results[per * i + 2 * j + 1]
                hourly[d] = {int(t): float(v) for t, v in _values(hours) if v is not None}
                above[d] = [(int(t), float(v)) for t, v in _values(windows) if v is not None]
            found[(q.uplink.device, q.uplink.interface)] = UplinkUsage(hourly, above)
        return found

    def loss_while_up(self, sel: Selection) -> dict[tuple[str, str], float]:
        (result,) = self._run([
            f"SELECT sum(sent), sum(received) FROM {quote_ident('ping')} WHERE "
            f"{_where(sel, 'target')} AND up = 1 GROUP BY {quote_ident('site')}, "
            f"{quote_ident('target')}"])
        found = {}
        for s in result:
            _, sent, received = s.values[0]
            if sent:
                found[(s.tags.get("site", ""), s.tags.get("target", ""))] = \
                    100.0 * (1 - (received or 0) / sent)
        return found


def _event_spans(hours: Mapping[int, Sequence[int]], interval_s: float) -> list[tuple[int, int]]:
    """The time spans [a, b) to read point by point, each starting one hour before the first
    hour that may hold an event (so that hour's first point has its predecessor)."""
    full = HOUR_S / interval_s
    full_count = int(full) if abs(full - round(full)) < 1e-9 else None
    first, last = min(hours), max(hours)
    n = (last - first) // HOUR_NS + 1

    def clean(i: int) -> bool:
        c, s = hours.get(first + i * HOUR_NS, (0, 0))
        return c == full_count and s in (0, c)

    def state(i: int) -> int:
        return hours[first + i * HOUR_NS][1]

    wanted: set[int] = set()
    for i in range(n):
        if (i in (0, n - 1) or not clean(i) or not clean(i - 1)
                or (state(i) == 0) != (state(i - 1) == 0)):
            wanted.update((i - 1, i, i + 1))
    spans: list[list[int]] = []
    for i in sorted(i for i in wanted if 0 <= i < n):
        if spans and spans[-1][1] == i:
            spans[-1][1] = i + 1
        else:
            spans.append([i, i + 1])
    return [(first + (a - 1) * HOUR_NS, first + b * HOUR_NS) for a, b in spans]


def _first_last(spans: Sequence[tuple[int, list[list[Any]]]],
                ) -> tuple[tuple[int, int], tuple[int, int]] | tuple[None, None]:
    rows = [r for _, found in spans for r in found if r[1] is not None]
    if not rows:
        return None, None
    first, last = min(rows, key=lambda r: int(r[0])), max(rows, key=lambda r: int(r[0]))
    return (int(first[0]), int(first[1])), (int(last[0]), int(last[1]))


def _window_of(time_s: int) -> int:
    return int(time_s) // WINDOW_S * WINDOW_S


def _values(result: list[Series]) -> list[list[Any]]:
    return [v for series in result for v in series.values]


def _tags_where(sel: Selection, tag: str | None) -> str:
    parts = []
    if sel.sites:
        parts.append(_any_of("site", sel.sites))
    if sel.targets and tag:
        parts.append(_any_of(tag, sel.targets))
    return " AND ".join(parts)


def _where(sel: Selection, tag: str | None) -> str:
    tags = _tags_where(sel, tag)
    return f"time >= {sel.since_ns} AND time < {sel.until_ns}" + (f" AND {tags}" if tags else "")


def _any_of(tag: str, values: Iterable[str]) -> str:
    return "(" + " OR ".join(f"{quote_ident(tag)} = {quote_string(v)}" for v in values) + ")"
