"""One target's up/down history reduced to its transitions, and the runs rebuilt from them.

A month of one-minute samples is 43,200 points; what the reports need is far smaller: how
many samples there were, how many were up, and the moments where the state changed or the
data stopped. InfluxDB computes exactly that server-side (count, sum, first, last, and the
non-zero `difference(up)` / large `elapsed()` points); the local history computes the same
from its samples. Both hand an `UpSeries` to `runs()`, so both backends agree by construction.

Each sample is one probe cycle: the sample at time t covers [t, t + interval).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

# A spacing above this many intervals between two samples is a data gap (UNKNOWN time).
# Two intervals is one missed sample; the half interval more absorbs the scheduler's jitter,
# so that one missed sample (a cycle held for a trace, a late answer) never splits a run.
GAP_INTERVALS = 2.5


@dataclass(frozen=True)
class Event:
    """The sample at `time_ns` differs from the one before it (`delta` = up - previous up),
    or came `elapsed_ns` after it, more than GAP_INTERVALS intervals later."""

    time_ns: int
    delta: int
    elapsed_ns: int


@dataclass(frozen=True)
class UpSeries:
    """The reduced history of one target (ping `target` or snmp `device`) in a period."""

    site: str
    target: str
    interval_s: float
    count: int                 # samples
    up_count: int              # samples with up = 1
    first_ns: int
    first_up: int
    last_ns: int
    last_up: int
    events: tuple[Event, ...] = field(default=())

    @property
    def interval_ns(self) -> int:
        return int(self.interval_s * 1e9)


@dataclass(frozen=True)
class Run:
    """Consecutive cycles of one state, from the first sample of the run to the first sample
    of the next one (`end_kind` "change"), to the end of the last cycle before a data gap
    ("gap"), or to the end of the last cycle of the data ("end")."""

    up: bool
    start_ns: int
    end_ns: int
    end_kind: str
    cycles: int


@dataclass(frozen=True, slots=True)
class OpenRun:
    """The run a target is in: its state, its first sample and its newest one. The alerts
    keep one per target and extend it sample by sample, by the same rule `runs()` uses."""

    up: bool
    start_ns: int
    last_ns: int

    def cycles(self, interval_ns: int) -> int:
        """Cycles from the first sample to the end of the newest one's cycle."""
        return max(1, round((self.last_ns + interval_ns - self.start_ns) / interval_ns))

    def close(self, end_ns: int, end_kind: str, interval_ns: int) -> Run:
        return Run(self.up, self.start_ns, end_ns, end_kind,
                   max(1, round((end_ns - self.start_ns) / interval_ns)))


def advance(run: OpenRun | None, time_ns: int, up: bool,
            interval_ns: int) -> tuple[OpenRun, Run | None]:
    """The run after one more sample, and the run that sample ended, if it ended one: a
    change of state ends a run at the new sample; a spacing of more than GAP_INTERVALS
    intervals ends it at the end of its newest cycle (the time between is a data gap)."""
    if run is None:
        return OpenRun(up, time_ns, time_ns), None
    if time_ns - run.last_ns > GAP_INTERVALS * interval_ns:
        return OpenRun(up, time_ns, time_ns), run.close(run.last_ns + interval_ns, "gap",
                                                        interval_ns)
    if up != run.up:
        return OpenRun(up, time_ns, time_ns), run.close(time_ns, "change", interval_ns)
    return OpenRun(run.up, run.start_ns, max(run.last_ns, time_ns)), None


def runs(series: UpSeries) -> list[Run]:
    """The UP and DOWN runs of `series`, in time order; data gaps lie between them."""
    step = series.interval_ns
    found: list[Run] = []
    run = OpenRun(bool(series.first_up), series.first_ns, series.first_ns)
    state = series.first_up
    for event in series.events:
        if event.time_ns <= series.first_ns:
            continue
        # the samples between events continue the run: the newest is the one before this
        run = OpenRun(run.up, run.start_ns, event.time_ns - event.elapsed_ns)
        state += event.delta
        run, ended = advance(run, event.time_ns, bool(state), step)
        if ended is not None:
            found.append(ended)
    found.append(OpenRun(run.up, run.start_ns, series.last_ns).close(
        series.last_ns + step, "end", step))
    return found


def events_of(times: Sequence[int], ups: Sequence[int], interval_ns: int) -> list[Event]:
    """The events of time-ordered samples, as InfluxDB's difference()/elapsed() yield them."""
    found = []
    for i in range(1, len(times)):
        delta, elapsed = ups[i] - ups[i - 1], times[i] - times[i - 1]
        if delta or elapsed > GAP_INTERVALS * interval_ns:
            found.append(Event(times[i], delta, elapsed))
    return found


def median_spacing_s(times: Sequence[int]) -> float | None:
    """The median time between consecutive samples, in seconds (None with fewer than two)."""
    spacings = sorted(b - a for a, b in itertools.pairwise(times) if b > a)
    return median(spacings) / 1e9 if spacings else None


def median(values: Sequence[float]) -> float:
    """The median as InfluxDB computes it: the mean of the two middle values when even."""
    ordered = sorted(values)
    n = len(ordered)
    if n % 2:
        return ordered[n // 2]
    low, high = ordered[n // 2 - 1], ordered[n // 2]
    return low + (high - low) / 2


def percentile(values: Iterable[float], pct: float) -> float | None:
    """Nearest rank, as InfluxDB's percentile(): the value at floor(n·p/100 + 0.5) - 1."""
    ordered = sorted(values)
    i = int(len(ordered) * pct / 100.0 + 0.5) - 1
    return ordered[i] if 0 <= i < len(ordered) else None
