"""The query backend over InfluxQL: the database reduces the data, Python gets the summary.

A month of one-minute samples per target becomes a handful of rows: count/sum/first/last
of `up`, and only the points where `difference(up)` is non-zero or `elapsed()` shows a data
gap (a subquery, supported since InfluxDB 1.2). Latency is aggregates over the raw points;
bandwidth is the 5-minute windows (count, mean, max) of each interface, the percentiles
taken over them. Statements are per series, several requests at once: InfluxDB 1.6 answers a
subquery or GROUP BY time() grouped by tag many times slower than the same per series.
Every name from the command line enters a statement through quote_ident/quote_string.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from agent.config.schema import InfluxOutput
from agent.query.bandwidth import (
    DIRECTIONS,
    INTERFACE_KEYS,
    WINDOW_S,
    Traffic,
    Window,
    from_windows,
)
from agent.query.influxql import Series, query, quote_ident, quote_string
from agent.query.latency import Latency, loss_pct
from agent.query.selection import Selection
from agent.query.states import GAP_INTERVALS, Event, UpSeries
from collector.sample import Sample

DEFAULT_INTERVAL_S = 60.0


class InfluxBackend:
    name = "InfluxDB"

    def __init__(self, output: InfluxOutput, *, workers: int = 4,
                 statements_per_request: int = 40) -> None:
        self.output = output
        self.workers = workers
        self.per_request = statements_per_request

    @property
    def description(self) -> str:
        return f"InfluxDB at {self.output.url} (database {self.output.database})"

    def _run(self, statements: Sequence[str]) -> list[list[Series]]:
        """Results of each statement, in order. Statements go in several requests at once:
        InfluxDB runs the statements of one request one after another."""
        chunks = [statements[i:i + self.per_request]
                  for i in range(0, len(statements), self.per_request)]
        if len(chunks) <= 1:
            return query(self.output, ";\n".join(statements)) if statements else []
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(min(self.workers, len(chunks))) as pool:
            answers = list(pool.map(lambda c: query(self.output, ";\n".join(c)), chunks))
        return [result for answer in answers for result in answer]

    def _series(self, measurement: str, sel: Selection, tag: str | None,
                keys: Sequence[str]) -> list[tuple[str, ...]]:
        """The distinct values of `keys` among the series of `measurement` (from the index,
        without reading points)."""
        from agent.lineprotocol import decode

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
                  intervals: Mapping[str, float]) -> list[UpSeries]:
        """Per target: count/sum, first and last point, and only the points where up changed
        or a gap ended. One statement per target: InfluxDB 1.6 runs a subquery grouped by
        tag far slower than the same subquery once per series."""
        m = quote_ident(measurement)
        names = self._series(measurement, sel, tag, ("site", tag))
        where_of = {key: f"{_where(sel, None)} AND {quote_ident('site')} = "
                         f"{quote_string(key[0])} AND {quote_ident(tag)} = "
                         f"{quote_string(key[1])}" for key in names}
        interval = {key: intervals[key[1]] for key in names if key[1] in intervals}
        unknown = [key for key in names if key not in interval]
        if unknown:
            inferred = self._run([
                f"SELECT median(e) FROM (SELECT elapsed(up, 1ms) AS e FROM {m} WHERE "
                f"{where_of[key]})" for key in unknown])
            for key, result in zip(unknown, inferred, strict=True):
                value = result[0].values[0][1] if result and result[0].values else None
                interval[key] = float(value) / 1000 if value else DEFAULT_INTERVAL_S
        statements = []
        for key in names:
            where, gap_ns = where_of[key], int(GAP_INTERVALS * interval[key] * 1e9)
            statements += [
                f"SELECT count(up), sum(up) FROM {m} WHERE {where}",
                # raw points with LIMIT 1 stop at the first point; first()/last() read all
                f"SELECT up FROM {m} WHERE {where} LIMIT 1",
                f"SELECT up FROM {m} WHERE {where} ORDER BY time DESC LIMIT 1",
                f"SELECT d, e FROM (SELECT difference(up) AS d, elapsed(up, 1ns) AS e "
                f"FROM {m} WHERE {where}) WHERE d != 0 OR e > {gap_ns}",
            ]
        results = self._run(statements)
        found = []
        for i, key in enumerate(names):
            totals, first, last, events = (_values(r) for r in results[4 * i:4 * i + 4])
            if not totals or not totals[0][1] or not first or not last:
                continue
            _, count, up_sum = totals[0]
            found.append(UpSeries(
                site=key[0], target=key[1], interval_s=interval[key], count=int(count),
                up_count=int(up_sum or 0), first_ns=int(first[0][0]), first_up=int(first[0][1]),
                last_ns=int(last[0][0]), last_up=int(last[0][1]),
                events=tuple(Event(int(t), int(d or 0), int(e or 0)) for t, d, e in events),
            ))
        return found

    # -- latency ----------------------------------------------------------------------------

    def latency(self, sel: Selection) -> list[Latency]:
        group = f"GROUP BY {quote_ident('site')}, {quote_ident('target')}"
        (result,) = self._run([
            "SELECT count(up), count(rtt_avg_ms), median(rtt_avg_ms), "
            "percentile(rtt_avg_ms, 95), mean(jitter_ms), sum(sent), sum(received) "
            f"FROM {quote_ident('ping')} WHERE {_where(sel, 'target')} {group}"])
        found = []
        for s in result:
            _, count, rtt_count, med, p95, jitter, sent, received = s.values[0]
            found.append(Latency(
                site=s.tags.get("site", ""), target=s.tags.get("target", ""),
                samples=int(count or 0), rtt_samples=int(rtt_count or 0),
                rtt_median_ms=med, rtt_p95_ms=p95, loss_pct=loss_pct(sent, received),
                jitter_ms=jitter))
        return found

    # -- bandwidth --------------------------------------------------------------------------

    def traffic(self, sel: Selection, *, min_samples_of: Mapping[str, int],
                default_min: int) -> list[Traffic]:
        """Per interface: its 5-minute windows (count, mean, max per direction) from the
        database, one statement per interface; the percentiles are taken over the windows."""
        interfaces = self._series("interface", sel, "device", INTERFACE_KEYS)
        m = quote_ident("interface")
        columns = ", ".join(
            f"count({b}), mean({b}), max({b}), mean({u})"
            for b, u in ((quote_ident(f"{d}_bps"), quote_ident(f"{d}_util_pct"))
                         for d in DIRECTIONS))
        statements = []
        for key in interfaces:
            where = _where(sel, None) + "".join(
                f" AND {quote_ident(k)} = {quote_string(v)}"
                for k, v in zip(INTERFACE_KEYS, key, strict=True))
            statements += [
                f"SELECT {columns} FROM {m} WHERE {where} GROUP BY time({WINDOW_S}s) "
                "fill(none)",
                f"SELECT {quote_ident('speed_bps')} FROM {m} WHERE {where} "
                "ORDER BY time DESC LIMIT 1",
            ]
        results = self._run(statements)
        found = []
        for i, key in enumerate(interfaces):
            rows, speed = _values(results[2 * i]), _values(results[2 * i + 1])
            speed_bps = float(speed[0][1]) if speed and speed[0][1] is not None else None
            for j, direction in enumerate(DIRECTIONS):
                windows = [Window(int(r[1 + 4 * j] or 0), r[2 + 4 * j], r[3 + 4 * j],
                                  r[4 + 4 * j]) for r in rows if r[1 + 4 * j]]
                traffic = from_windows(key, direction, windows,
                                       min_samples_of.get(key[1], default_min), speed_bps)
                if traffic is not None:
                    found.append(traffic)
        return found

    # -- latest (status) --------------------------------------------------------------------

    def latest(self, measurement: str, sel: Selection) -> list[Sample]:
        """The newest point of every series of `measurement` in the period."""
        (result,) = self._run([
            f"SELECT * FROM {quote_ident(measurement)} WHERE {_where(sel, None)} "
            "GROUP BY * ORDER BY time DESC LIMIT 1"])
        samples = []
        for series in result:
            for row in series.rows():
                time_ns = int(row.pop("time"))
                fields = {k: v for k, v in row.items() if v is not None}
                samples.append(Sample(measurement, series.tags, fields, time_ns))
        return samples


def _values(result: list[Series]) -> list[list]:
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
