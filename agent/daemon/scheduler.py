"""Runs every check on its own interval, each in its own task, so no check waits for another.

A cycle that is still running when its next one is due is not stacked: the missed starts are
counted as overruns (the `poll_overruns` field of the `linkwatch` measurement) and the check
resumes on its next tick. Scheduling uses the monotonic clock, so a wall-clock step (NTP)
neither bunches nor skips cycles; samples carry the wall-clock time their probe took.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from linkwatch.collector import Collect, Sample

log = logging.getLogger("linkwatch.scheduler")

# Checks start within this many seconds (at most a tenth of their interval) of the agent,
# at random, so a hundred checks with the same interval do not fire in the same instant.
# The offsets fall on whole slots: checks sharing a slot are served by one wake-up of the
# event loop, which on a small VM costs more CPU than the work itself (200 ping targets on
# scattered offsets cost 3-4x more CPU than on shared slots).
MAX_START_OFFSET_S = 5.0
START_SLOT_S = 1.0
OVERRUN_GRACE_S = 1.0


@dataclass(frozen=True)
class ScheduledCheck:
    """One configured check, opened and ready to run."""

    kind: str                      # ping, snmp, host
    name: str
    interval: float                # seconds
    timeout: float                 # seconds; a cycle still running then is cancelled
    tags: Mapping[str, str]        # agent and site, added to every sample
    collect: Collect


@dataclass
class CheckHealth:
    """What the scheduler knows of one check's last cycles (for status and logs)."""

    cycles: int = 0
    failures: int = 0              # cycles that timed out or raised
    last_error: str | None = None


@dataclass
class SchedulerCounters:
    collected: int = 0             # samples handed to the sink
    overruns: int = 0              # cycle starts missed because the previous one ran long
    checks: dict[str, CheckHealth] = field(default_factory=dict)


Sink = Callable[[list[Sample]], None]


def with_tags(samples: Sequence[Sample], tags: Mapping[str, str]) -> list[Sample]:
    """The samples with the check's agent/site tags added (a probe's own tags win)."""
    return [
        Sample(s.measurement, {**tags, **s.tags}, s.fields, s.time_ns) for s in samples
    ]


async def run_cycle(check: ScheduledCheck, sink: Sink, counters: SchedulerCounters) -> None:
    """One cycle of one check: collect within the timeout and hand the samples to the sink."""
    health = counters.checks.setdefault(f"{check.kind}/{check.name}", CheckHealth())
    health.cycles += 1
    try:
        samples = await asyncio.wait_for(check.collect(), check.timeout)
    except TimeoutError:
        _note_failure(check, health, f"no result within {check.timeout:g}s")
        return
    except Exception as e:  # a probe bug must not stop the other checks
        reason = f"{type(e).__name__}: {e}"
        if reason != health.last_error:   # the traceback once per change, not every cycle
            log.exception("%s check %r failed (logged again only when the error changes)",
                          check.kind, check.name, extra=_fields(check))
        health.failures += 1
        health.last_error = reason
        return
    if health.last_error is not None:
        log.info("%s check %r works again", check.kind, check.name, extra=_fields(check))
        health.last_error = None
    tagged = with_tags(samples, check.tags)
    counters.collected += len(tagged)
    sink(tagged)


def _note_failure(check: ScheduledCheck, health: CheckHealth, reason: str) -> None:
    health.failures += 1
    if health.last_error is None:  # one line when it starts failing, not one per cycle
        log.warning("%s check %r: %s", check.kind, check.name, reason, extra=_fields(check))
    health.last_error = reason


def _fields(check: ScheduledCheck) -> dict[str, dict[str, str]]:
    """The journal's fields of a check's log line (agent.daemon.logs)."""
    return {"journal": {"kind": check.kind, "check": check.name}}


async def run_check(
    check: ScheduledCheck,
    sink: Sink,
    counters: SchedulerCounters,
    *,
    rng: random.Random,
    monotonic: Callable[[], float] = time.monotonic,
) -> None:
    """Run `check` every `interval` seconds until cancelled."""
    slots = int(min(MAX_START_OFFSET_S, check.interval / 10) / START_SLOT_S) + 1
    due = monotonic() + rng.randrange(slots) * START_SLOT_S
    while True:
        delay = due - monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        await run_cycle(check, sink, counters)
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            # Python 3.11's asyncio.wait_for returns the probe's answer and drops a
            # cancellation that arrives in the same step: stop anyway, or a reload or a
            # stop waiting for this task would wait forever.
            raise asyncio.CancelledError
        due += check.interval
        late = monotonic() - due
        # A start a little late (a cycle that used its whole timeout) is not an overrun.
        if late > min(OVERRUN_GRACE_S, check.interval / 10):
            missed = math.floor(late / check.interval) + 1
            counters.overruns += missed
            due += missed * check.interval
            log.debug("%s check %r overran by %.1fs", check.kind, check.name, late)


async def run_once(
    checks: Sequence[ScheduledCheck], sink: Sink, counters: SchedulerCounters
) -> None:
    """One cycle of every check, all at once, for `agent run --once`."""
    await asyncio.gather(*(run_cycle(c, sink, counters) for c in checks))
