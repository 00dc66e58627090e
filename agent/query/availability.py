"""Uptime and outages of targets, by the definitions of docs/cli.md (and docs/design.md).

- Every sample is one cycle of `interval_s`; cycles with no sample are UNKNOWN.
- A failed cycle (up = 0) is UNREACHABLE when, at that moment, every target of the site's
  parent site had failed too (the parent's link was down), else DOWN. A parent target's
  failure is seen only at its own cycle: from its last answer to its first failure it may
  already be down, so it counts as failed from the cycle before its first failure. Two
  agents probing a parent and its child at different moments of their cycles then agree.
- availability = up ÷ (up + down): UNKNOWN and UNREACHABLE time are left out, because the
  target could not be judged then; coverage = time with samples ÷ (period − maintenance).
- Maintenance windows (config `maintenance:`) are left out like UNKNOWN time and shown apart
  as `maintenance_s`: the cycles inside a window are neither up, down nor unreachable, and
  a window cuts a run as a data gap does (a DOWN run reaching it ends there, "maintenance").
  A parent site's downtime is taken over all its time, windows included, so its children
  stay UNREACHABLE while it is in maintenance.
- An outage is a run of at least `min_cycles` consecutive failed cycles; it starts at the
  first failed cycle and ends at the first success. Shorter runs are flaps. A data gap ends
  a run (the time after it is UNKNOWN, not down). An outage wholly inside the parent's
  downtime is charged to the parent: it is listed, but neither counted nor timed for the
  target.
- MTTR = total duration of the counted outages ÷ their number; MTBF = up time ÷ number of
  outages. Both absent with no outage.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from linkwatch.agent.query.states import GAP_INTERVALS, Run, UpSeries, runs

MIN_CYCLES = 3                 # consecutive failed cycles that make an outage (N)
POOR_PCT = 95.0                # availability shown as poor (red), below any usual target
Interval = tuple[int, int]
# (site, target) → the maintenance windows covering it within the period, sorted, disjoint
Maintenance = Callable[[str, str], Sequence[Interval]]


def is_outage(run: Run, min_cycles: int = MIN_CYCLES) -> bool:
    """The one definition: a DOWN run of at least N cycles (shorter ones are flaps)."""
    return not run.up and run.cycles >= min_cycles


@dataclass(frozen=True)
class Outage:
    site: str
    target: str
    start_ns: int
    end_ns: int | None          # the first success; None while ongoing
    duration_s: float           # to the end, or to the end of the data while ongoing
    cycles: int
    ended_by: str               # "recovery", "data gap" (no sample after it), "maintenance"
                                # (a window began) or "ongoing"
    charged_to: str | None      # the parent site, when the parent's link was down throughout
    parent_down_s: float        # how much of it the parent's link was down


@dataclass(frozen=True)
class Uptime:
    site: str
    target: str | None          # None on a site's roll-up row
    period_s: float
    up_s: float
    down_s: float
    unreachable_s: float
    unknown_s: float
    outages: int
    flaps: int
    outage_s: float             # total duration of the counted outages
    samples: int
    maintenance_s: float = 0.0  # time inside maintenance windows, left out like UNKNOWN

    @property
    def judged_s(self) -> float:
        return self.up_s + self.down_s

    @property
    def availability_pct(self) -> float | None:
        return 100.0 * self.up_s / self.judged_s if self.judged_s > 0 else None

    @property
    def coverage_pct(self) -> float | None:
        known = self.up_s + self.down_s + self.unreachable_s
        expected = self.period_s - self.maintenance_s
        return 100.0 * known / expected if expected > 0 else None

    @property
    def mttr_s(self) -> float | None:
        return self.outage_s / self.outages if self.outages else None

    @property
    def mtbf_s(self) -> float | None:
        return self.up_s / self.outages if self.outages else None

    def row(self) -> dict[str, object]:
        return {
            "site": self.site, "target": self.target,
            "availability_pct": _round(self.availability_pct, 4),
            "coverage_pct": _round(self.coverage_pct, 4),
            "downtime_s": round(self.down_s, 3), "outages": self.outages, "flaps": self.flaps,
            "mttr_s": _round(self.mttr_s, 3), "mtbf_s": _round(self.mtbf_s, 3),
            "up_s": round(self.up_s, 3), "unreachable_s": round(self.unreachable_s, 3),
            "unknown_s": round(self.unknown_s, 3),
            "maintenance_s": round(self.maintenance_s, 3), "samples": self.samples,
        }


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


@dataclass(frozen=True)
class Report:
    targets: list[Uptime]
    sites: list[Uptime]
    outages: list[Outage]


def analyse(series: Sequence[UpSeries], *, parents: Mapping[str, str | None],
            period_ns: tuple[int, int], min_cycles: int = MIN_CYCLES,
            maintenance: Maintenance | None = None) -> Report:
    """Uptime per target and per site, and every outage, over the period [since, until);
    `maintenance` gives each target's windows, left out of availability."""
    since, until = period_ns
    period_s = (until - since) / 1e9
    runs_of = {(s.site, s.target): runs(s) for s in series}
    failed_by_site: dict[str, list[list[Interval]]] = defaultdict(list)
    for s in series:
        failed_by_site[s.site].append(merged(
            [(r.start_ns - s.interval_ns, r.end_ns) for r in runs_of[(s.site, s.target)]
             if not r.up]))
    site_down = {site: intersect_all(lists) for site, lists in failed_by_site.items()}

    targets, outages = [], []
    for s in series:
        parent = parents.get(s.site)
        parent_down = site_down.get(parent, []) if parent else []
        step = s.interval_s
        windows = list(maintenance(s.site, s.target)) if maintenance else []
        own_runs = runs_of[(s.site, s.target)]
        in_window = {True: 0, False: 0}          # cycles inside windows, by state
        if windows:
            for run in own_runs:
                in_window[run.up] += _cycles_within(run, windows, s.interval_ns)
            own_runs = _outside(own_runs, windows, s.interval_ns)
        unreachable_cycles = 0
        counted, flaps, outage_s = 0, 0, 0.0
        for run in own_runs:
            if run.up:
                continue
            overlap_ns = overlap(run.start_ns, run.end_ns, parent_down)
            charged_cycles = cycles_within(run.start_ns, s.interval_ns, run.cycles, parent_down)
            unreachable_cycles += charged_cycles
            wholly_parent = charged_cycles == run.cycles
            if not is_outage(run, min_cycles):
                flaps += 0 if wholly_parent else 1
                continue
            # the data runs to the end of the period: nothing says it has ended
            ongoing = (run.end_kind == "end"
                       and run.end_ns > until - GAP_INTERVALS * s.interval_ns)
            outage = Outage(
                site=s.site, target=s.target, start_ns=run.start_ns,
                end_ns=run.end_ns if run.end_kind == "change" else None,
                duration_s=(run.end_ns - run.start_ns) / 1e9, cycles=run.cycles,
                ended_by=_ENDED_BY.get(run.end_kind, "ongoing" if ongoing else "data gap"),
                charged_to=parent if wholly_parent else None,
                parent_down_s=overlap_ns / 1e9,
            )
            outages.append(outage)
            if not wholly_parent:
                counted += 1
                outage_s += outage.duration_s
        up_cycles = max(0, s.up_count - in_window[True])
        failed_cycles = max(0, s.count - s.up_count - in_window[False])
        unreachable_s = unreachable_cycles * step
        maintenance_s = sum(b - a for a, b in windows) / 1e9
        targets.append(Uptime(
            site=s.site, target=s.target, period_s=period_s, up_s=up_cycles * step,
            down_s=failed_cycles * step - unreachable_s, unreachable_s=unreachable_s,
            unknown_s=max(0.0, period_s - maintenance_s - (up_cycles + failed_cycles) * step),
            outages=counted, flaps=flaps, outage_s=outage_s, samples=s.count,
            maintenance_s=maintenance_s,
        ))
    targets.sort(key=lambda u: (u.site, u.target or ""))
    outages.sort(key=lambda o: (o.start_ns, o.site, o.target))
    return Report(targets, roll_up(targets), outages)


_ENDED_BY = {"change": "recovery", "maintenance": "maintenance"}


def _cycles_within(run: Run, windows: Sequence[Interval], step_ns: int) -> int:
    """The run's cycles that start inside a window (its samples at start + k × step)."""
    found = 0
    for a, b in windows:
        first = max(0, -((run.start_ns - a) // step_ns))          # ceil((a - start) / step)
        last = min(run.cycles, -((run.start_ns - b) // step_ns))  # ceil((b - start) / step)
        found += max(0, last - first)
    return found


def _outside(found: Sequence[Run], windows: Sequence[Interval], step_ns: int) -> list[Run]:
    """The runs with the windows' time cut out: a run a window starts in ends there
    ("maintenance"), and the part after a window starts where the window ends."""
    out = []
    for run in found:
        start = run.start_ns
        for a, b in windows:
            if b <= start or a >= run.end_ns:
                continue
            if a > start:
                out.append(_piece(run, start, a, "maintenance", step_ns))
            start = max(start, b)
        if start < run.end_ns:
            out.append(_piece(run, start, run.end_ns, run.end_kind, step_ns))
    return [r for r in out if r.cycles > 0]


def _piece(run: Run, start: int, end: int, kind: str, step_ns: int) -> Run:
    return Run(run.up, start, end, kind, round((end - start) / step_ns))


def roll_up(targets: Iterable[Uptime]) -> list[Uptime]:
    """One row per site: the sums of its targets' times and counts."""
    by_site: dict[str, list[Uptime]] = defaultdict(list)
    for t in targets:
        by_site[t.site].append(t)
    return [
        Uptime(
            site=site, target=None, period_s=sum(t.period_s for t in group),
            up_s=sum(t.up_s for t in group), down_s=sum(t.down_s for t in group),
            unreachable_s=sum(t.unreachable_s for t in group),
            unknown_s=sum(t.unknown_s for t in group), outages=sum(t.outages for t in group),
            flaps=sum(t.flaps for t in group), outage_s=sum(t.outage_s for t in group),
            samples=sum(t.samples for t in group),
            maintenance_s=sum(t.maintenance_s for t in group),
        )
        for site, group in sorted(by_site.items())
    ]


def intersect_all(lists: list[list[Interval]]) -> list[Interval]:
    """The times inside an interval of every list (each list sorted and disjoint)."""
    if not lists:
        return []
    result = lists[0]
    for other in lists[1:]:
        result = _intersect(result, other)
    return result


def _intersect(a: list[Interval], b: list[Interval]) -> list[Interval]:
    out, i, j = [], 0, 0
    while i < len(a) and j < len(b):
        start, end = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if start < end:
            out.append((start, end))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return out


def merged(intervals: list[Interval]) -> list[Interval]:
    """Sorted intervals with the overlapping ones joined."""
    out: list[Interval] = []
    for start, end in sorted(intervals):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def cycles_within(start: int, step: int, cycles: int, intervals: list[Interval]) -> int:
    """How many of the cycles starting at start, start + step, … (`cycles` of them) begin
    inside one of `intervals` (sorted, disjoint)."""
    found = 0
    for a, b in intervals:
        first = max(0, -(-(a - start) // step))        # the first cycle at or after a
        last = min(cycles, -(-(b - start) // step))    # … and the first at or after b
        found += max(0, last - first)
    return found


def overlap(start: int, end: int, intervals: list[Interval]) -> int:
    return sum(max(0, min(end, e) - max(start, s)) for s, e in intervals)
