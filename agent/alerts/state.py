"""The state machine of an alert: what each subject's samples say now (`Condition`), and what
changes when that differs from what was last decided (`decide`).

Runs are agent.query.states' (`advance`, the same rule `runs()` applies to the history) and
an outage is agent.query.availability's (`is_outage`: N consecutive DOWN cycles), so an
alert fires exactly when `linkwatch outages` would start listing the outage. On top:

- *Excused* cycles: while the parent site's link is down (the target is UNREACHABLE) or a
  maintenance window covers the subject, a run that qualifies is `suppressed`, not firing;
  the cycles count again only after the excuse ends, so a target still down when its
  parent came back fires after N cycles of its own, as a window cuts a run in the queries.
- Flap damping: a subject whose state changed `changes` times within `within` is
  `flapping` (one message), until its window holds fewer than half as many changes.
- People are told when what they were last told differs from the state: a change to
  firing or flapping is told, a change to ok is told as resolved only to those who heard
  it fire; a suppressed change is never told, nor anything inside a maintenance window
  (it is told when the window ends, if it still differs).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field, replace

from linkwatch.agent.alerts.event import Event, Subject
from linkwatch.agent.alerts.rules import Settings
from linkwatch.agent.config.alerting import Flapping
from linkwatch.agent.query.availability import is_outage
from linkwatch.agent.query.states import OpenRun, advance, percentile
from linkwatch.agent.spool import AlertRecord

OK, FIRING, SUPPRESSED, FLAPPING = "ok", "firing", "suppressed", "flapping"
# What people hear of each state; None: nothing changes for them (suppressed).
_TOLD = {OK: "none", FIRING: "firing", FLAPPING: "flapping", SUPPRESSED: None}
_EVENT_STATE = {OK: "resolved", FIRING: "firing", SUPPRESSED: "suppressed",
                FLAPPING: "flapping"}


@dataclass(frozen=True, slots=True)
class Condition:
    """What a subject's rule says now."""

    state: str                        # ok, firing, suppressed, flapping
    since_ns: int = 0
    value: float | None = None
    limit: float | None = None
    unit: str | None = None
    cut_off: tuple[tuple[str, str], ...] = ()
    reason: str | None = None
    changes: int | None = None
    site_down: tuple[str, ...] = ()


CLEAR = Condition(OK)


@dataclass(frozen=True)
class Decision:
    """What one evaluation changes: the record to store, the event it makes (a point in
    the history when `changed`), and whether people are told."""

    record: AlertRecord
    event: Event
    changed: bool
    notify: bool


def decide(record: AlertRecord | None, condition: Condition, subject: Subject,
           settings: Settings, agent: str, now_ns: int, *, quiet: bool = False,
           ) -> Decision | None:
    """The decision when `condition` differs from `record`; None when nothing changes.
    `quiet`: a maintenance window covers the subject, so nobody is told now."""
    old_state = record.state if record else OK
    old_told = record.notified if record else "none"
    changed = condition.state != old_state
    want = _TOLD[condition.state]
    notify = not quiet and want is not None and want != old_told
    if not changed and not notify:
        return None
    told = want if notify and want is not None else old_told
    if condition.state == OK:
        # a resolution reports the whole episode: from when it began to now
        since = record.since_ns if record else now_ns
    elif changed or record is None:
        since = condition.since_ns
    else:
        since = record.since_ns
    event = Event(rule=subject.rule, severity=settings.severity,
                  state=_EVENT_STATE[condition.state], subject=subject, agent=agent,
                  since_ns=since, at_ns=now_ns, value=condition.value, limit=condition.limit,
                  unit=condition.unit, cut_off=condition.cut_off, reason=condition.reason,
                  changes=condition.changes, site_down=condition.site_down)
    new = AlertRecord(key=subject.key, rule=subject.rule, severity=settings.severity,
                      site=subject.site, state=condition.state, notified=told,
                      since_ns=since,
                      changed_ns=now_ns if changed or record is None else record.changed_ns,
                      detail=event.to_json())
    return Decision(new, event, changed, notify)


# -- the outage state machine (target_down, device_down, uplink_down) ------------------------

@dataclass(eq=False)
class Tracked:
    """One subject of a state rule: its current run and its recent changes of state."""

    subject: Subject
    interval_ns: int
    run: OpenRun | None = None
    excused_until_ns: int = 0         # the newest failed sample seen while excused
    changes: deque[int] = field(default_factory=deque)
    flapping: bool = False

    def add(self, time_ns: int, up: bool) -> None:
        """One more sample (samples older than the run's newest are ignored)."""
        if self.run is not None and time_ns <= self.run.last_ns:
            return
        self.run, ended = advance(self.run, time_ns, up, self.interval_ns)
        if ended is not None and ended.end_kind == "change":
            self.changes.append(time_ns)

    @property
    def failing(self) -> bool:
        return self.run is not None and not self.run.up

    def condition(self, settings: Settings, min_cycles: int, flap: Flapping, now_ns: int,
                  *, excuse: str | None, previous: str) -> Condition | None:
        """The rule's state now; None before the first sample (nothing to judge: what was
        decided stands). `excuse`: why failures do not count ("parent <site>", "maintenance
        <window>"); `previous`: the state last decided."""
        self._flap(flap, now_ns)
        run = self.run
        if run is None:
            return None
        step = self.interval_ns
        if run.up:
            return Condition(FLAPPING, self.changes[0], changes=len(self.changes)) \
                if self.flapping else CLEAR
        qualifies = (is_outage(run.close(run.last_ns + step, "end", step), min_cycles)
                     and (run.last_ns + step - run.start_ns) / 1e9 >= settings.for_s)
        held = previous in (SUPPRESSED, FIRING)    # only an UP ends what was decided
        if excuse is not None:
            self.excused_until_ns = run.last_ns
            return Condition(SUPPRESSED, run.start_ns, reason=excuse) \
                if qualifies or held else CLEAR
        if self.flapping:
            return Condition(FLAPPING, self.changes[0], changes=len(self.changes))
        own_start = run.start_ns if self.excused_until_ns < run.start_ns \
            else self.excused_until_ns + step
        own = OpenRun(False, own_start, run.last_ns)
        if qualifies and own_start <= run.last_ns and own.cycles(step) >= min_cycles:
            return Condition(FIRING, own_start)
        if held:
            # firing goes on (a restart, a data gap); suppressed waits for N cycles of its own
            return Condition(previous, run.start_ns,
                             reason="recovering" if previous == SUPPRESSED else None)
        return CLEAR

    def _flap(self, flap: Flapping, now_ns: int) -> None:
        while self.changes and self.changes[0] < now_ns - flap.within * 1e9:
            self.changes.popleft()
        if not flap.changes:
            self.flapping = False
        elif len(self.changes) >= flap.changes:
            self.flapping = True
        elif self.flapping and len(self.changes) < math.ceil(flap.changes / 2):
            self.flapping = False


# -- rules over a window (link_saturated, quality) -------------------------------------------

@dataclass(eq=False)
class Window:
    """The samples of the last `span_ns`, for a rule that judges a mean or a percentile."""

    subject: Subject
    span_ns: int
    interval_ns: int
    samples: deque[tuple[int, tuple[float, ...]]] = field(default_factory=deque)

    def add(self, time_ns: int, values: tuple[float, ...]) -> None:
        if self.samples and time_ns <= self.samples[-1][0]:
            return
        self.samples.append((time_ns, values))
        while self.samples and self.samples[0][0] < time_ns - self.span_ns:
            self.samples.popleft()

    def full(self) -> bool:
        """The samples cover most of the window (a gap would make a mean of little)."""
        if not self.samples:
            return False
        covered = self.samples[-1][0] + self.interval_ns - self.samples[0][0]
        expected = self.span_ns / self.interval_ns
        return covered >= 0.8 * self.span_ns and len(self.samples) >= 0.5 * expected

    def saturation(self, settings: Settings) -> Condition | None:
        """Mean utilisation over the window against the threshold; None: too little data."""
        if not self.full() or settings.threshold_pct is None:
            return None
        mean = sum(v[0] for _, v in self.samples) / len(self.samples)
        if mean > settings.threshold_pct:
            return Condition(FIRING, self.samples[0][0], round(mean, 2),
                             settings.threshold_pct, "%")
        return CLEAR

    def quality(self, max_loss_pct: float, max_rtt_ms: float) -> Condition | None:
        """Loss (over the cycles that were up) and RTT p95 against the site's limits;
        None: too little data, or the target is down (target_down speaks then)."""
        if not self.full() or self.samples[-1][1][0] < 1:
            return None
        up = [v for _, v in self.samples if v[0] >= 1]
        sent = sum(v[1] for v in up)
        if len(up) < 3 or sent <= 0:
            return None
        loss = 100.0 * (1 - sum(v[2] for v in up) / sent)
        if loss > max_loss_pct:
            return Condition(FIRING, self.samples[0][0], round(loss, 2), max_loss_pct, "%")
        p95 = percentile([v[3] for v in up if not math.isnan(v[3])], 95)
        if p95 is not None and p95 > max_rtt_ms:
            return Condition(FIRING, self.samples[0][0], round(p95, 1), max_rtt_ms, "ms")
        return CLEAR


def held(condition: Condition, since_ns: int, settings: Settings, now_ns: int) -> Condition:
    """A firing condition that has not yet held for the rule's `for` is still ok."""
    if condition.state == FIRING and (now_ns - since_ns) / 1e9 < settings.for_s:
        return CLEAR
    return replace(condition, since_ns=since_ns) if condition.state == FIRING else condition
