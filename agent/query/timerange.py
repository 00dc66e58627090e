"""--since/--until: a relative age (24h, 7d), a date in the config's time zone, or ISO 8601.

    TimeRange.parse("7d", None, tz=None, now_ns=now)        # the last seven days up to now
    TimeRange.parse("2026-10-01", "2026-10-02", tz=config.tz, now_ns=now)

A date alone (2026-10-01) is midnight in the config's `agent.timezone` (the system's zone
when unset); a date-time without an offset is taken in that zone too; one with `Z` or an
offset means exactly that instant.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_RELATIVE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$")
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
EXAMPLES = "24h, 7d, 90m, 2026-10-01, 2026-10-01T08:00, 2026-10-01T00:00:00Z"


class TimeRangeError(ValueError):
    """A --since/--until value that cannot be read, or a range that ends before it starts."""


@dataclass(frozen=True)
class TimeRange:
    since_ns: int
    until_ns: int              # exclusive; never later than the moment the query was asked

    @property
    def seconds(self) -> float:
        return (self.until_ns - self.since_ns) / 1e9

    @classmethod
    def parse(cls, since: str, until: str | None, *, tz: dt.tzinfo | None,
              now_ns: int) -> TimeRange:
        since_ns = parse_instant(since, tz=tz, now_ns=now_ns, option="--since")
        until_ns = now_ns if until is None else parse_instant(until, tz=tz, now_ns=now_ns,
                                                              option="--until")
        until_ns = min(until_ns, now_ns)
        if until_ns <= since_ns:
            raise TimeRangeError(
                f"--since {since!r} is not before --until {until or 'now'!r}: "
                "the period is empty")
        return cls(since_ns, until_ns)


def parse_instant(text: str, *, tz: dt.tzinfo | None, now_ns: int, option: str) -> int:
    """Nanoseconds since the epoch for one --since/--until value."""
    if text.strip().lower() == "now":
        return now_ns
    match = _RELATIVE.match(text)
    if match:
        age_s = float(match.group(1)) * _UNITS[match.group(2)]
        return now_ns - int(age_s * 1e9)
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        raise TimeRangeError(
            f"{option} {text!r}: not a time. Give an age (24h, 7d, 90m), a date in "
            "the config's agent.timezone (2026-10-01, 2026-10-01T08:00) or ISO 8601 with an "
            "offset (2026-10-01T00:00:00Z)") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz) if tz is not None else moment.astimezone()
    return (moment - _EPOCH) // dt.timedelta(microseconds=1) * 1000


def iso(time_ns: int | None, tz: dt.tzinfo | None = dt.UTC) -> str | None:
    """An instant as ISO 8601 to the second, in `tz` (UTC by default)."""
    if time_ns is None:
        return None
    moment = dt.datetime.fromtimestamp(time_ns // 1_000_000_000, dt.UTC)
    return (moment.astimezone(tz) if tz is not None else moment.astimezone()).isoformat(
        timespec="seconds")


@dataclass(frozen=True)
class Month:
    """A calendar month in a time zone: [since_ns, until_ns)."""

    year: int
    month: int
    tz: dt.tzinfo

    @classmethod
    def parse(cls, text: str, tz: dt.tzinfo) -> Month:
        try:
            year, month = (int(p) for p in text.split("-"))
            dt.date(year, month, 1)
        except ValueError:
            raise ValueError(f"month {text!r}: write it as YYYY-MM, e.g. 2026-10") from None
        return cls(year, month, tz)

    @classmethod
    def last_complete(cls, tz: dt.tzinfo, now_ns: int) -> Month:
        """The calendar month before the one `now_ns` falls in, in `tz`."""
        today = dt.datetime.fromtimestamp(now_ns // 1_000_000_000, tz)
        year, month = (today.year - 1, 12) if today.month == 1 else (today.year,
                                                                     today.month - 1)
        return cls(year, month, tz)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def start(self) -> dt.datetime:
        return dt.datetime(self.year, self.month, 1, tzinfo=self.tz)

    @property
    def end(self) -> dt.datetime:
        y, m = (self.year + 1, 1) if self.month == 12 else (self.year, self.month + 1)
        return dt.datetime(y, m, 1, tzinfo=self.tz)

    @property
    def since_ns(self) -> int:
        return int(self.start.timestamp()) * 1_000_000_000

    @property
    def until_ns(self) -> int:
        return int(self.end.timestamp()) * 1_000_000_000

    @property
    def days(self) -> int:
        return (self.end.date() - self.start.date()).days

    def ns(self, offset: dt.timedelta) -> int:
        return self.since_ns + int(offset.total_seconds()) * 1_000_000_000
