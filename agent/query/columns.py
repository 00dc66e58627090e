"""A measurement of the local history over a period, read once and kept as columns.

Decoding the spool's lines is most of the time a `--local` question takes, and a report asks
several questions of the same month (uptime, latency and loss of `ping`; bandwidth and the
uplinks' hours of `interface`). The local backend reads each measurement of a period once,
into one `Series` per tag set: the times, and per field one float per time (NaN where the
point has no such field), and every summary is computed from those columns.

    found = read(spool, "ping", since_ns, until_ns, fields=("up", "sent"))
    for key, series in group(found, lambda tags: (tags["site"], tags["target"])).items():
        ups = series.values("up")

A point stored twice (resent after a crash) counts once, as InfluxDB keeps one value per
series and time: the later copy wins.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from linkwatch.agent.datamodel.lineprotocol import FieldReader
from linkwatch.agent.spool import Spool

# progress(what, done, total), called while points are read
Progress = Callable[[str, int, int], None]
_REPORT_EVERY = 20_000
_K = TypeVar("_K", bound=Hashable)


@dataclass
class Series:
    """One tag set's points in time order: `times` (ns) and a column per field."""

    tags: Mapping[str, str]
    times: array[int] = field(default_factory=lambda: array("q"))
    columns: dict[str, array[float]] = field(default_factory=dict)

    def values(self, name: str) -> array[float]:
        """The field's value at each time; NaN where the point lacks it."""
        return self.columns[name]

    def __len__(self) -> int:
        return len(self.times)


def read(spool: Spool, measurement: str, since_ns: int, until_ns: int, *,
         fields: Sequence[str], sites: Sequence[str] = (),
         progress: Progress | None = None) -> list[Series]:
    """The points of `measurement` with since_ns <= time < until_ns (of `sites` only, when
    given), one Series per tag set, holding the numeric `fields`."""
    wanted = set(sites)
    total = spool.count_between(since_ns, until_ns, measurement) if progress else 0
    parse = FieldReader(fields)
    # series key → the Series and its columns in field order; None: not a wanted site
    found: dict[str, tuple[Series, list[array[float]]] | None] = {}
    seen = 0
    for time_ns, line in spool.lines(measurement, since_ns, until_ns,
                                      {"site": sites[0]} if len(sites) == 1 else None):
        seen += 1
        if progress is not None and seen % _REPORT_EVERY == 0:
            progress(f"reading {measurement}", seen, max(seen, total))
        parsed = parse(line)
        if parsed is None:
            continue
        key, tags, values = parsed
        if key not in found:
            if wanted and tags.get("site", "") not in wanted:
                found[key] = None
            else:
                series = Series(tags, columns={f: array("d") for f in fields})
                found[key] = (series, list(series.columns.values()))
        entry = found[key]
        if entry is None:
            continue
        series, slots = entry
        if series.times and series.times[-1] == time_ns:
            for column, value in zip(slots, values, strict=True):
                column[-1] = value
            continue
        series.times.append(time_ns)
        for column, value in zip(slots, values, strict=True):
            column.append(value)
    if progress is not None:
        progress(f"reading {measurement}", seen, max(seen, total))
    return [entry[0] for entry in found.values() if entry is not None]


def group(found: Iterable[Series], key: Callable[[Mapping[str, str]], _K]
          ) -> dict[_K, Series]:
    """The series merged by `key(tags)` (e.g. site and target, whatever the address was),
    in time order; where two hold a field at the same time, the later one wins."""
    groups: dict[_K, list[Series]] = {}
    for series in found:
        groups.setdefault(key(series.tags), []).append(series)
    return {k: members[0] if len(members) == 1 else _merged(members)
            for k, members in groups.items()}


def _merged(members: list[Series]) -> Series:
    names = list(members[0].columns)
    by_time: dict[int, list[float]] = {}
    for series in members:
        for i, t in enumerate(series.times):
            # series of one key may hold different fields at one time (a UPS's point and
            # its input line's): a value there is kept, an absent one never erases it
            values = by_time.setdefault(t, [math.nan] * len(names))
            for j, name in enumerate(names):
                value = series.columns[name][i]
                if value == value:
                    values[j] = value
    merged = Series(members[0].tags, columns={n: array("d") for n in names})
    for t in sorted(by_time):
        merged.times.append(t)
        for n, value in zip(names, by_time[t], strict=True):
            merged.columns[n].append(value)
    return merged


def present(values: Iterable[float]) -> list[float]:
    """The values that are there (not NaN)."""
    return [v for v in values if v == v]
