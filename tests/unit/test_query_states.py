"""The reduced history (transitions and gaps) rebuilt into runs, and the uptime arithmetic."""

from __future__ import annotations

import pytest

from linkwatch.agent.query.availability import analyse
from linkwatch.agent.query.states import UpSeries, events_of, median, percentile, runs

MIN = 60 * 10**9


def series(ups: list[int | None], *, site: str = "s", target: str = "t", step: int = MIN,
           offset: int = 0) -> UpSeries:
    """One sample every `step` (a minute) from `offset`; None is a cycle with no sample."""
    times = [offset + i * step for i, u in enumerate(ups) if u is not None]
    values = [u for u in ups if u is not None]
    return UpSeries(site=site, target=target, interval_s=step / 1e9, count=len(values),
                    up_count=sum(values), first_ns=times[0], first_up=values[0],
                    last_ns=times[-1], last_up=values[-1],
                    events=tuple(events_of(times, values, step)))


def test_runs_end_at_the_first_success_and_at_data_gaps():
    got = runs(series([1, 1, 0, 0, 0, 1, None, None, None, 0, 0]))
    assert [(r.up, r.start_ns // MIN, r.end_ns // MIN, r.end_kind, r.cycles) for r in got] == [
        (True, 0, 2, "change", 2), (False, 2, 5, "change", 3), (True, 5, 6, "gap", 1),
        (False, 9, 11, "end", 2)]


def test_one_missing_sample_is_not_a_gap():
    got = runs(series([1, 1, None, 1, 1]))
    assert len(got) == 1 and got[0].cycles == 5


def test_outages_need_min_cycles_and_shorter_runs_are_flaps():
    ups = [1] * 10 + [0, 0] + [1] * 10 + [0, 0, 0] + [1] * 5
    report = analyse([series(ups)], parents={}, period_ns=(0, len(ups) * MIN), min_cycles=3)
    (row,) = report.targets
    assert (row.outages, row.flaps, row.down_s, row.outage_s) == (1, 1, 300, 180)
    assert row.availability_pct == pytest.approx(100 * 25 / 30)
    assert [(o.start_ns // MIN, o.end_ns // MIN) for o in report.outages] == [(22, 25)]


def test_a_child_failing_while_every_parent_target_failed_is_charged_to_the_parent():
    parent = [1] * 5 + [0] * 4 + [1] * 5
    other = [1] * 5 + [0] * 4 + [1] * 5
    child = [1] * 5 + [0] * 6 + [1] * 3
    report = analyse([series(parent, site="p", target="p1"), series(other, site="p",
                                                                    target="p2"),
                      series(child, site="c", target="c1")],
                     parents={"c": "p", "p": None}, period_ns=(0, 14 * MIN))
    c1 = next(t for t in report.targets if t.target == "c1")
    assert (c1.unreachable_s, c1.down_s, c1.outages) == (240, 120, 1)
    outage = next(o for o in report.outages if o.target == "c1")
    assert outage.charged_to is None and outage.parent_down_s == 240


def test_median_and_percentile_follow_influxdb():
    assert median([4, 1, 3, 2]) == 2.5
    assert percentile(range(1, 13), 95) == 11      # floor(12·0.95 + 0.5) − 1 = 10th index
    assert percentile([], 95) is None


def test_a_parent_seen_failing_later_in_its_cycle_than_the_child_still_takes_the_charge():
    """The parent's link is cut at 100 s and mended at 150 s. Two agents probe it every 2 s,
    one at even seconds and one half a cycle later; the child's agent probes at x.3 s. The
    child's first failure (100.3 s) comes before the second parent target's (101.5 s), and
    its last (148.3 s) after the first parent target's last: every failed cycle of the child
    is still the parent's, so nothing is charged to the child."""
    step = 2 * 10**9

    def cut(offset_s: float) -> list[int | None]:   # 0 for the cycles inside [100, 150)
        return [0 if 100 <= offset_s + 2 * i < 150 else 1 for i in range(100)]

    report = analyse([
        series(cut(0.0), site="p", target="p1", step=step),
        series(cut(1.5), site="p", target="p2", step=step, offset=int(1.5e9)),
        series(cut(0.3), site="c", target="c1", step=step, offset=int(0.3e9)),
    ], parents={"c": "p", "p": None}, period_ns=(0, 200 * 10**9))
    c1 = next(t for t in report.targets if t.target == "c1")
    assert (c1.down_s, c1.unreachable_s, c1.outages) == (0, 50, 0)
    (outage,) = [o for o in report.outages if o.target == "c1"]
    assert outage.charged_to == "p"
