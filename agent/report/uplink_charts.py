"""What the report draws from an uplink's usage (agent.query.uplinks, from any backend).

- Utilisation by day × local hour (the heat map): the hour's mean rate ÷ the capacity the
  bandwidth query used; an hour with no valid rate is a gap (None), never zero.
- Minutes above the warn/upgrade thresholds in office hours: the valid 5-minute windows of
  agent.query.bandwidth (at least `min_samples` rates, mean utilisation above the
  threshold) whose start falls in the site's office hours, Monday to Friday, local time.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from linkwatch.agent.config.calendar import OfficeHours
from linkwatch.agent.query.bandwidth import WINDOW_S
from linkwatch.agent.query.uplinks import UplinkUsage

_NS = 1_000_000_000


def office_minutes_above(usage: UplinkUsage, direction: str, hours: OfficeHours,
                         tz: dt.tzinfo, thresholds: Sequence[float]) -> tuple[int, ...]:
    starts = [(t, u) for t, u in usage.windows_above.get(direction, ())
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
