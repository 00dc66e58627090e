"""A measurement's fields reduced to windows: per series (one set of tags) and window of time,
how many samples held each field and their mean, lowest and highest value.

InfluxDB answers exactly this for `SELECT count(f), mean(f), min(f), max(f) … GROUP BY
time(W), * fill(none)`; the local history reduces its samples here the same way (windows
aligned to the epoch, a point stored twice counted once, the mean summed in time order as
InfluxDB does), so the radio and power answers built on windows agree across backends.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from linkwatch.collector.sample import FieldValue, Sample


@dataclass(frozen=True)
class Window:
    start_ns: int
    count: Mapping[str, int] = field(default_factory=dict)    # field → samples holding it
    mean: Mapping[str, float] = field(default_factory=dict)
    low: Mapping[str, float] = field(default_factory=dict)
    high: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class WindowSeries:
    tags: Mapping[str, str]            # every tag of the series: agent, site, device, row tags
    windows: tuple[Window, ...]        # in time order; windows with no sample are left out


def window(start_ns: int, values: Mapping[str, Sequence[float]]) -> Window | None:
    """The window of these values per field (in time order), or None if none has a value."""
    present = {f: v for f, v in values.items() if v}
    if not present:
        return None
    means = {}
    for name, vs in present.items():
        total = 0.0
        for v in vs:           # summed one by one, in time order: InfluxDB's mean()
            total += v
        means[name] = total / len(vs)
    return Window(start_ns, {f: len(v) for f, v in present.items()}, means,
                  {f: float(min(v)) for f, v in present.items()},
                  {f: float(max(v)) for f, v in present.items()})


def from_samples(samples: Iterable[Sample], fields: Sequence[str],
                 window_s: int) -> list[WindowSeries]:
    """Samples (any order; one kept per series and time) reduced to windows of `window_s`."""
    step = window_s * 10**9
    unique: dict[tuple[tuple[str, str], ...], dict[int, Mapping[str, FieldValue]]] = (
        defaultdict(dict))
    for s in samples:
        unique[tuple(sorted(s.tags.items()))][s.time_ns] = s.fields
    found = []
    for tags, points in sorted(unique.items()):
        by_window: dict[int, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
        for time_ns in sorted(points):
            bucket = by_window[time_ns // step * step]
            for name in fields:
                value = points[time_ns].get(name)
                if isinstance(value, int | float) and not isinstance(value, bool):
                    bucket[name].append(float(value))
        windows = [w for start in sorted(by_window)
                   if (w := window(start, by_window[start])) is not None]
        if windows:
            found.append(WindowSeries(dict(tags), tuple(windows)))
    return found
