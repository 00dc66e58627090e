"""The scheduler's loop of one check, with a probe the test controls."""

from __future__ import annotations

import asyncio
import random

import pytest

from linkwatch.agent.daemon.scheduler import ScheduledCheck, SchedulerCounters, run_check
from linkwatch.collector.sample import Sample


def test_a_check_cancelled_as_its_probe_returns_still_stops():
    """A reload or a stop cancels every check task and waits for them. When the
    cancellation lands in the very step in which the probe's answer arrives, Python 3.11's
    asyncio.wait_for delivers the answer and drops the cancellation; the loop must still
    end, or the reload (and the agent with it) waits forever."""

    async def scenario() -> None:
        answered = asyncio.Event()
        cycles: list[int] = []

        async def collect() -> list[Sample]:
            cycles.append(1)
            await answered.wait()
            return []

        check = ScheduledCheck(kind="ping", name="t", interval=0.05, timeout=5.0, tags={},
                               collect=collect)
        task = asyncio.create_task(run_check(check, lambda samples: None, SchedulerCounters(),
                                             rng=random.Random(1)))
        while not cycles:
            await asyncio.sleep(0.001)
        answered.set()   # the probe's answer and the cancellation in one step of the loop
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(task, timeout=2)

    asyncio.run(scenario())
