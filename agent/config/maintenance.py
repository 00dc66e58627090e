"""Maintenance windows (`maintenance:`): declared time when nothing is alerted and which
availability leaves out, like UNKNOWN time, shown apart as `maintenance_s`.

A window is one-off (`start`, `end`) or recurring (`hours`, on `days`), in the config's time
zone, for some sites and checks (none named: every one):

    maintenance:
      - {name: weekly-reboot, days: [sun], hours: "02:00-04:00"}
      - {name: cable-work, start: "2026-12-05 08:00", end: "2026-12-05 12:00",
         sites: [ngoc-vung]}
      - {name: night-backup, hours: "23:30-00:30", checks: [backup-link]}

The windows live with the config, not with the alerts, because the queries (a layer below
the alerts) subtract them from availability too.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from linkwatch.collector.keys import key

Interval = tuple[int, int]          # [start_ns, end_ns)

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HOURS = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")
_MOMENT_FORMS = "2026-12-05 08:00, 2026-12-05T08:00 or 2026-12-05"


@dataclass(frozen=True)
class MaintenanceWindow:
    """One declared window; `__post_init__` refuses one that cannot be read."""

    name: str | None = key(None, doc="names the window in alerts and logs")
    sites: tuple[str, ...] = key((), doc="the sites whose checks it covers")
    checks: tuple[str, ...] = key((), doc="the checks (ping targets, snmp devices) it covers; "
                                  "with no sites and no checks: every one")
    start: str | None = key(None, doc="one-off: its start, local time (2026-12-05 08:00)")
    end: str | None = key(None, doc="one-off: its end, local time")
    days: tuple[str, ...] = key((), doc="recurring: the days it starts on (mon … sun)",
                                default_doc="every day")
    hours: str | None = key(None, doc="recurring: local start and end, e.g. 02:00-04:00 "
                            "(an end before the start crosses midnight)")
    description: str | None = key(None, doc="free text for people")

    def __post_init__(self) -> None:
        one_off = self.start is not None or self.end is not None
        if one_off and (self.hours is not None or self.days):
            raise ValueError("a maintenance window is one-off (start, end) or recurring "
                             "(hours, days), not both")
        if one_off:
            if self.start is None or self.end is None:
                raise ValueError("a one-off maintenance window needs both start and end")
            if _moment(self.end, "end") <= _moment(self.start, "start"):
                raise ValueError(f"maintenance window end {self.end!r} is not after its "
                                 f"start {self.start!r}")
        elif self.hours is None:
            raise ValueError("a maintenance window needs start and end (one-off) or hours "
                             "(recurring, e.g. hours: \"02:00-04:00\", days: [sun])")
        else:
            _daily(self.hours)
            unknown = [d for d in self.days if d.lower()[:3] not in DAYS]
            if unknown:
                raise ValueError(f"unknown day {unknown[0]!r} in a maintenance window: write "
                                 "mon, tue, wed, thu, fri, sat or sun")

    @property
    def label(self) -> str:
        return self.name or self.description or (self.start or self.hours or "")

    def covers(self, site: str, check: str | None) -> bool:
        """Whether the window applies to `check` standing at `site` (check None: the site)."""
        if not self.sites and not self.checks:
            return True
        return site in self.sites or (check is not None and check in self.checks)

    def spans(self, since_ns: int, until_ns: int, tz: dt.tzinfo) -> list[Interval]:
        """The window's times within [since_ns, until_ns), in order."""
        if self.start is not None and self.end is not None:
            found = [(_ns(_moment(self.start, "start"), tz), _ns(_moment(self.end, "end"), tz))]
        else:
            assert self.hours is not None
            start_min, length_min = _daily(self.hours)
            days = {d.lower()[:3] for d in self.days}
            first = dt.datetime.fromtimestamp(since_ns / 1e9, tz).date() - dt.timedelta(days=1)
            last = dt.datetime.fromtimestamp(until_ns / 1e9, tz).date()
            found = []
            day = first
            while day <= last:
                if not days or DAYS[day.weekday()] in days:
                    begin = dt.datetime.combine(day, dt.time(), tzinfo=tz) + dt.timedelta(
                        minutes=start_min)
                    found.append((_ns(begin, tz),
                                  _ns(begin + dt.timedelta(minutes=length_min), tz)))
                day += dt.timedelta(days=1)
        return [(max(a, since_ns), min(b, until_ns)) for a, b in found
                if b > since_ns and a < until_ns]


def windows_for(windows: Sequence[MaintenanceWindow], site: str, check: str | None,
                since_ns: int, until_ns: int, tz: dt.tzinfo) -> list[Interval]:
    """The union of the windows covering `check` at `site`, within the period, merged."""
    return merge(span for w in windows if w.covers(site, check)
                 for span in w.spans(since_ns, until_ns, tz))


def merge(spans: Iterable[Interval]) -> list[Interval]:
    """Sorted, disjoint intervals covering the same time as `spans`."""
    out: list[list[int]] = []
    for a, b in sorted(spans):
        if out and a <= out[-1][1]:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return [(a, b) for a, b in out]


def _daily(text: str) -> tuple[int, int]:
    """`02:00-04:00` → (start minute, length in minutes); an end before the start is on
    the next day."""
    match = _HOURS.match(text)
    if match is None:
        raise ValueError(f"maintenance hours {text!r}: write HH:MM-HH:MM, e.g. 02:00-04:00")
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    if h1 > 23 or m1 > 59 or h2 > 24 or m2 > 59 or (h2 == 24 and m2):
        raise ValueError(f"maintenance hours {text!r}: not a time of day")
    start, end = h1 * 60 + m1, h2 * 60 + m2
    if start == end:
        raise ValueError(f"maintenance hours {text!r}: the end equals the start")
    return start, (end - start) % (24 * 60)


def _moment(text: str, which: str) -> dt.datetime:
    """A local date-time as written (no zone: the config's zone applies)."""
    value = text.strip().replace(" ", "T", 1)
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"maintenance {which} {text!r}: write it as {_MOMENT_FORMS}, in "
                         "agent.timezone") from None
    if moment.tzinfo is not None:
        raise ValueError(f"maintenance {which} {text!r}: leave out the offset; windows are "
                         "in agent.timezone")
    return moment


def _ns(moment: dt.datetime, tz: dt.tzinfo) -> int:
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=tz)
    return int(aware.timestamp()) * 1_000_000_000
