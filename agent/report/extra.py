"""What the report needs beyond the query verbs, over the same backends and definitions.

- Utilisation by day × local hour (the heat map): the hour's mean rate ÷ the capacity the
  bandwidth query used; an hour with no valid rate is a gap (None), never zero.
- Minutes above the warn/upgrade thresholds in office hours: the valid 5-minute windows of
  agent.query.bandwidth (at least `min_samples` rates, mean utilisation above the
  threshold) whose start falls in the site's office hours, Monday to Friday, local time.
- Loss while up: 100 × (1 − Σreceived ÷ Σsent) over the cycles with up = 1, so an outage is
  not counted twice (once as downtime, once as loss).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from linkwatch.agent.query.bandwidth import WINDOW_S
from linkwatch.agent.query.influxql import quote_ident, quote_string
from linkwatch.agent.query.selection import Selection

_NS = 1_000_000_000


@dataclass(frozen=True)
class Uplink:
    site: str
    device: str
    interface: str              # matched against if_name or if_alias
    need: int                   # valid rates a 5-minute window needs
    capacity: dict[str, float | None]   # "in"/"out" → capacity used for utilisation


@dataclass(frozen=True)
class OfficeHours:
    start_min: int
    end_min: int

    @classmethod
    def parse(cls, text: str) -> OfficeHours:
        """`07:30-17:00` → minutes after local midnight."""
        try:
            a, b = (p.strip() for p in text.split("-"))
            start, end = (int(x[:2]) * 60 + int(x[3:5]) for x in (a, b))
        except ValueError:
            raise ValueError(f"office_hours {text!r}: write it as HH:MM-HH:MM, e.g. "
                             "07:30-17:00") from None
        if not 0 <= start < end <= 24 * 60:
            raise ValueError(f"office_hours {text!r}: the end must come after the start")
        return cls(start, end)

    def holds(self, moment: dt.datetime) -> bool:
        minute = moment.hour * 60 + moment.minute
        return moment.weekday() < 5 and self.start_min <= minute < self.end_min


@dataclass(frozen=True)
class UplinkExtra:
    hourly_bps: dict[str, dict[int, float]]        # direction → hour start (s) → mean bps
    windows_above: dict[str, list[tuple[int, float]]]   # direction → (window start s, util)


def office_minutes_above(extra: UplinkExtra, direction: str, hours: OfficeHours,
                         tz: dt.tzinfo, thresholds: Sequence[float]) -> tuple[int, ...]:
    starts = [(t, u) for t, u in extra.windows_above.get(direction, ())
              if hours.holds(dt.datetime.fromtimestamp(t, tz))]
    return tuple(sum(1 for _, u in starts if u > th) * WINDOW_S // 60 for th in thresholds)


def heat_cells(hourly: dict[int, float], capacity: float | None, since_ns: int,
               until_ns: int, tz: dt.tzinfo) -> tuple[list[dt.date], list[list[float | None]]]:
    """Rows of local days, 24 columns of local hours, utilisation % or None."""
    first = dt.datetime.fromtimestamp(since_ns / _NS, tz).date()
    last = dt.datetime.fromtimestamp((until_ns - 1) // _NS, tz).date()
    days = [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]
    index = {d: i for i, d in enumerate(days)}
    cells: list[list[float | None]] = [[None] * 24 for _ in days]
    for t, bps in hourly.items():
        local = dt.datetime.fromtimestamp(t, tz)
        if local.date() in index and capacity:
            cells[index[local.date()]][local.hour] = 100.0 * bps / capacity
    return days, cells


# -- InfluxDB --------------------------------------------------------------------------------

def _where(sel: Selection, u: Uplink) -> str:
    return (f"time >= {sel.since_ns} AND time < {sel.until_ns} AND "
            f"{quote_ident('site')} = {quote_string(u.site)} AND "
            f"{quote_ident('device')} = {quote_string(u.device)} AND "
            f"({quote_ident('if_name')} = {quote_string(u.interface)} OR "
            f"{quote_ident('if_alias')} = {quote_string(u.interface)})")


def influx_uplinks(output, sel: Selection, uplinks: Iterable[Uplink],
                   thresholds: Sequence[float]) -> dict[tuple[str, str], UplinkExtra]:
    from linkwatch.agent.query.influxql import query

    uplinks = list(uplinks)
    statements = []
    for u in uplinks:
        where = _where(sel, u)
        for d in ("in", "out"):
            bps, util = quote_ident(f"{d}_bps"), quote_ident(f"{d}_util_pct")
            statements.append(f"SELECT mean({bps}) FROM {quote_ident('interface')} "
                              f"WHERE {where} GROUP BY time(1h) fill(none)")
            statements.append(
                f"SELECT u FROM (SELECT mean({util}) AS u, count({bps}) AS n FROM "
                f"{quote_ident('interface')} WHERE {where} GROUP BY time({WINDOW_S}s) "
                f"fill(none)) WHERE n >= {u.need} AND u > {min(thresholds)}")
    results = query(output, ";\n".join(statements), epoch="s") if statements else []
    found = {}
    for i, u in enumerate(uplinks):
        hourly, above = {}, {}
        for j, d in enumerate(("in", "out")):
            h, a = results[4 * i + 2 * j], results[4 * i + 2 * j + 1]
            hourly[d] = {int(t): float(v) for s in h for t, v in s.values if v is not None}
            above[d] = [(int(t), float(v)) for s in a for t, v in s.values if v is not None]
        found[(u.device, u.interface)] = UplinkExtra(hourly, above)
    return found


def influx_loss_while_up(output, sel: Selection) -> dict[tuple[str, str], float]:
    from linkwatch.agent.query.influxql import query

    (result,) = query(output, (
        f"SELECT sum(sent), sum(received) FROM {quote_ident('ping')} WHERE time >= "
        f"{sel.since_ns} AND time < {sel.until_ns} AND up = 1 GROUP BY "
        f"{quote_ident('site')}, {quote_ident('target')}"))
    found = {}
    for s in result:
        _, sent, received = s.values[0]
        if sent:
            found[(s.tags.get("site", ""), s.tags.get("target", ""))] = \
                100.0 * (1 - (received or 0) / sent)
    return found


# -- local history ---------------------------------------------------------------------------

def local_uplinks(spool, sel: Selection, uplinks: Iterable[Uplink],
                  thresholds: Sequence[float]) -> dict[tuple[str, str], UplinkExtra]:
    found = {}
    for u in uplinks:
        seen: dict[int, dict] = {}
        for s in spool.history("interface", sel.since_ns, sel.until_ns,
                               {"site": u.site, "device": u.device},
                               fields=("in_bps", "out_bps", "in_util_pct", "out_util_pct")):
            if u.interface in (s.tags.get("if_name"), s.tags.get("if_alias")):
                seen[s.time_ns] = s.fields       # a point resent after a crash counts once
        hourly: dict[str, dict[int, float]] = {}
        above: dict[str, list[tuple[int, float]]] = {}
        for d in ("in", "out"):
            hours: dict[int, list[float]] = defaultdict(list)
            windows: dict[int, dict[str, list[float]]] = defaultdict(
                lambda: {"bps": [], "util": []})
            for t in sorted(seen):
                f = seen[t]
                rate, util = f.get(f"{d}_bps"), f.get(f"{d}_util_pct")
                if _number(rate):
                    hours[t // _NS // 3600 * 3600].append(float(rate))
                    windows[t // _NS // WINDOW_S * WINDOW_S]["bps"].append(float(rate))
                if _number(util):
                    windows[t // _NS // WINDOW_S * WINDOW_S]["util"].append(float(util))
            hourly[d] = {h: sum(v) / len(v) for h, v in hours.items()}
            above[d] = [(w, sum(c["util"]) / len(c["util"])) for w, c in sorted(windows.items())
                        if len(c["bps"]) >= u.need and c["util"]
                        and sum(c["util"]) / len(c["util"]) > min(thresholds)]
        found[(u.device, u.interface)] = UplinkExtra(hourly, above)
    return found


def local_loss_while_up(spool, sel: Selection) -> dict[tuple[str, str], float]:
    sums: dict[tuple[str, str], dict[int, tuple[int, int]]] = defaultdict(dict)
    for s in spool.history("ping", sel.since_ns, sel.until_ns, None,
                           fields=("up", "sent", "received")):
        if s.fields.get("up") == 1:
            key = (s.tags.get("site", ""), s.tags.get("target", ""))
            sums[key][s.time_ns] = (int(s.fields.get("sent", 0)),
                                    int(s.fields.get("received", 0)))
    found = {}
    for key, by_time in sums.items():
        sent = sum(a for a, _ in by_time.values())
        received = sum(b for _, b in by_time.values())
        if sent:
            found[key] = 100.0 * (1 - received / sent)
    return found


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
