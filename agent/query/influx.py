"""The query backend over InfluxQL: the database reduces the data, Python gets the summary.

A month of one-minute samples per target becomes a handful of rows: count/sum/first/last
of `up`, and only the points where `difference(up)` is non-zero or `elapsed()` shows a data
gap (a subquery, supported since InfluxDB 1.2). Latency and bandwidth are aggregates over
the raw points, and over 5-minute windows in a subquery. Every name from the command line
enters a statement through quote_ident/quote_string.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence

from agent.config.schema import InfluxOutput
from agent.query.bandwidth import DIRECTIONS, INTERFACE_KEYS, THRESHOLDS, WINDOW_S, Traffic
from agent.query.influxql import Series, query, quote_ident, quote_string
from agent.query.latency import Latency, loss_pct
from agent.query.selection import Selection
from agent.query.states import GAP_INTERVALS, Event, UpSeries
from collector.sample import Sample

DEFAULT_INTERVAL_S = 60.0


class InfluxBackend:
    name = "InfluxDB"

    def __init__(self, output: InfluxOutput) -> None:
        self.output = output

    @property
    def description(self) -> str:
        return f"InfluxDB at {self.output.url} (database {self.output.database})"

    def _run(self, statements: Sequence[str]) -> list[list[Series]]:
        return query(self.output, ";\n".join(statements))

    # -- up/down ----------------------------------------------------------------------------

    def up_series(self, sel: Selection, *, measurement: str, tag: str,
                  intervals: Mapping[str, float]) -> list[UpSeries]:
        where = _where(sel, tag)
        group = f"GROUP BY {quote_ident('site')}, {quote_ident(tag)}"
        m = quote_ident(measurement)
        configured = [v for v in intervals.values() if v > 0]
        gap_ns = int(GAP_INTERVALS * min(configured or [DEFAULT_INTERVAL_S]) * 1e9)
        totals, firsts, lasts, events = self._run([
            f"SELECT count(up), sum(up) FROM {m} WHERE {where} {group}",
            # raw points with LIMIT 1 stop at the first point; first()/last() read them all
            f"SELECT up FROM {m} WHERE {where} {group} LIMIT 1",
            f"SELECT up FROM {m} WHERE {where} {group} ORDER BY time DESC LIMIT 1",
            _events_statement(m, where, group, gap_ns),
        ])
        names = [(s.tags.get("site", ""), s.tags.get(tag, "")) for s in totals]
        known = {key: intervals[key[1]] for key in names if key[1] in intervals}
        unknown = [key for key in names if key not in known]
        if unknown:
            known.update(self._inferred_intervals(m, where, group, tag))
            smallest = min(known.get(k, DEFAULT_INTERVAL_S) for k in unknown)
            if GAP_INTERVALS * smallest * 1e9 < gap_ns:
                gap_ns = int(GAP_INTERVALS * smallest * 1e9)
                (events,) = self._run([_events_statement(m, where, group, gap_ns)])
        first_of = {_key(s, tag): s.values[0] for s in firsts}
        last_of = {_key(s, tag): s.values[0] for s in lasts}
        events_of: dict[tuple[str, str], list[Event]] = defaultdict(list)
        for s in events:
            for t, d, e in s.values:
                events_of[_key(s, tag)].append(Event(int(t), int(d or 0), int(e or 0)))
        found = []
        for s in totals:
            key = _key(s, tag)
            _, count, up_sum = s.values[0]
            if not count or key not in first_of:
                continue
            interval = known.get(key, DEFAULT_INTERVAL_S)
            step_ns = interval * 1e9
            found.append(UpSeries(
                site=key[0], target=key[1], interval_s=interval, count=int(count),
                up_count=int(up_sum or 0), first_ns=int(first_of[key][0]),
                first_up=int(first_of[key][1]), last_ns=int(last_of[key][0]),
                last_up=int(last_of[key][1]),
                # the statement used the smallest interval; keep what is a gap for this one
                events=tuple(e for e in events_of.get(key, ())
                             if e.delta or e.elapsed_ns > GAP_INTERVALS * step_ns),
            ))
        return found

    def _inferred_intervals(self, m: str, where: str, group: str,
                            tag: str) -> dict[tuple[str, str], float]:
        """Median spacing of samples, for targets that are not in the config."""
        (result,) = self._run([
            f"SELECT median(e) FROM (SELECT elapsed(up, 1ms) AS e FROM {m} WHERE {where} "
            f"{group}) {group}"])
        return {_key(s, tag): float(s.values[0][1]) / 1000 for s in result
                if s.values and s.values[0][1]}

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
        """Per interface and direction; devices grouped by how many rates a window needs."""
        groups: dict[int, list[str]] = defaultdict(list)
        for device, need in min_samples_of.items():
            if not sel.targets or device in sel.targets:
                groups[need].append(device)
        plans: list[tuple[int, Selection, str]] = []
        for need, devices in sorted(groups.items()):
            plans.append((need, Selection(sel.since_ns, sel.until_ns, sel.sites,
                                          tuple(devices)), ""))
        if not sel.targets or set(sel.targets) - set(min_samples_of):
            # devices not in the config
            others = "".join(f" AND {quote_ident('device')} != {quote_string(d)}"
                             for d in min_samples_of)
            plans.append((default_min, sel, others))
        statements = [
            _traffic_statement(d, _where(p, "device") + extra, need)
            for need, p, extra in plans for d in DIRECTIONS
        ]
        results = self._run(statements) if statements else []
        found = []
        for i, result in enumerate(results):
            direction = DIRECTIONS[i % len(DIRECTIONS)]
            for s in result:
                _, windows, mean, p95, top, u95, speed, *above = s.values[0]
                if not windows:
                    continue
                found.append(Traffic(
                    *(s.tags.get(k, "") for k in INTERFACE_KEYS), direction=direction,
                    windows=int(windows), mean_bps=mean, p95_bps=p95, max_bps=top,
                    util_p95_pct=u95, above=tuple(int(a or 0) for a in above),
                    speed_bps=speed))
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


def _events_statement(m: str, where: str, group: str, gap_ns: int) -> str:
    return (f"SELECT d, e FROM (SELECT difference(up) AS d, elapsed(up, 1ns) AS e FROM {m} "
            f"WHERE {where} {group}) WHERE d != 0 OR e > {gap_ns} {group}")


def _above(util: str, threshold: int) -> str:
    # 1 when the window's mean utilisation is above the threshold, else 0 (InfluxQL has no
    # comparison in SELECT: x/|x| is ±1, and x/0 is 0 there).
    sign = f"(mean({util}) - {threshold}) / abs(mean({util}) - {threshold})"
    return f"({sign} + abs({sign})) / 2"


def _traffic_statement(direction: str, where: str, need: int) -> str:
    bps, util = quote_ident(f"{direction}_bps"), quote_ident(f"{direction}_util_pct")
    keys = ", ".join(quote_ident(k) for k in INTERFACE_KEYS)
    above_inner = ", ".join(f"{_above(util, th)} AS a{th}" for th in THRESHOLDS)
    above_outer = ", ".join(f"sum(a{th})" for th in THRESHOLDS)
    return (
        f"SELECT count(m), mean(m), percentile(m, 95), max(x), percentile(u, 95), last(sp), "
        f"{above_outer} FROM (SELECT mean({bps}) AS m, count({bps}) AS n, max({bps}) AS x, "
        f"mean({util}) AS u, last({quote_ident('speed_bps')}) AS sp, {above_inner} "
        f"FROM {quote_ident('interface')} WHERE {where} "
        f"GROUP BY time({WINDOW_S}s), {keys} fill(none)) WHERE n >= {need} GROUP BY {keys}")


def _key(series: Series, tag: str) -> tuple[str, str]:
    return series.tags.get("site", ""), series.tags.get(tag, "")


def _where(sel: Selection, tag: str | None) -> str:
    parts = [f"time >= {sel.since_ns} AND time < {sel.until_ns}"]
    if sel.sites:
        parts.append(_any_of("site", sel.sites))
    if sel.targets and tag:
        parts.append(_any_of(tag, sel.targets))
    return " AND ".join(parts)


def _any_of(tag: str, values: Iterable[str]) -> str:
    return "(" + " OR ".join(f"{quote_ident(tag)} = {quote_string(v)}" for v in values) + ")"
