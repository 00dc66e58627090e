"""A probe that keeps failing the same way logs its traceback once, not once per cycle;
a new error, or the same error after it worked again, is logged again."""

from __future__ import annotations

import asyncio
import logging

from linkwatch.agent.daemon.scheduler import ScheduledCheck, SchedulerCounters, run_cycle
from linkwatch.collector.sample import Sample


def test_a_failing_probe_logs_its_traceback_once_per_change(caplog):
    errors = iter([ValueError("counter out of range")] * 5 + [KeyError("ifName")] * 3
                  + [None] + [ValueError("counter out of range")] * 2)

    async def collect() -> list[Sample]:
        error = next(errors)
        if error is not None:
            raise error
        return [Sample("device", {"device": "sw1"}, {"up": 1}, 1)]

    check = ScheduledCheck(kind="snmp", name="sw1", interval=1.0, timeout=1.0,
                           tags={"agent": "a", "site": "s"}, collect=collect)
    counters, written = SchedulerCounters(), []
    with caplog.at_level(logging.INFO, "linkwatch.scheduler"):
        for _ in range(11):
            asyncio.run(run_cycle(check, written.extend, counters))

    tracebacks = [r for r in caplog.records if r.exc_info]
    assert [r.exc_info[0] for r in tracebacks] == [ValueError, KeyError, ValueError]
    assert sum("works again" in r.getMessage() for r in caplog.records) == 1
    assert counters.checks["snmp/sw1"].failures == 10 and len(written) == 1
