"""Times of day and week written in the config, read in the config's time zone.

    OfficeHours.parse("07:30-17:00")      # Monday to Friday, local time
"""

from __future__ import annotations

import datetime as dt
import os
import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_HOURS = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


@dataclass(frozen=True)
class OfficeHours:
    """The working day, Monday to Friday: [start, end) in minutes after local midnight."""

    start_min: int
    end_min: int

    @classmethod
    def parse(cls, text: str) -> OfficeHours:
        """`07:30-17:00`; raises ValueError saying how to write it."""
        match = _HOURS.match(text)
        if match is None:
            raise ValueError(f"write it as HH:MM-HH:MM, e.g. 07:30-17:00, got {text!r}")
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        if h1 > 24 or h2 > 24 or m1 > 59 or m2 > 59:
            raise ValueError(f"{text!r} is not a time of day (00:00 to 24:00)")
        start, end = h1 * 60 + m1, h2 * 60 + m2
        if not 0 <= start < end <= 24 * 60:
            raise ValueError(f"{text!r}: the end must come after the start, within one day")
        return cls(start, end)

    def holds(self, moment: dt.datetime) -> bool:
        """Whether a local time falls in office hours."""
        minute = moment.hour * 60 + moment.minute
        return moment.weekday() < 5 and self.start_min <= minute < self.end_min

    def __str__(self) -> str:
        return "{:02d}:{:02d}-{:02d}:{:02d}".format(*divmod(self.start_min, 60),
                                                    *divmod(self.end_min, 60))


def zone_named(name: str | None) -> dt.tzinfo:
    """The zone `agent.timezone` names, or this machine's when it names none."""
    return ZoneInfo(name) if name else local_zone()


def local_zone() -> dt.tzinfo:
    """This machine's zone, with its rules (not just today's offset): $TZ, else
    /etc/localtime, else UTC."""
    name = os.environ.get("TZ", "").lstrip(":")
    if name:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            pass    # a POSIX rule such as "ICT-7": the C library's offset below
    try:
        with open("/etc/localtime", "rb") as f:
            return ZoneInfo.from_file(f, key="localtime")
    except (OSError, ValueError):
        return dt.datetime.now().astimezone().tzinfo or dt.UTC
