"""Opens the configured checks: probe code is imported only for the kinds a config uses."""

from __future__ import annotations

import contextlib
import importlib

from linkwatch.agent.config.schema import Check, Config
from linkwatch.agent.daemon.scheduler import ScheduledCheck
from linkwatch.collector import ProbeContext, StateStore


async def open_checks(
    config: Config, store: StateStore, exit_stack: contextlib.AsyncExitStack
) -> list[ScheduledCheck]:
    """Every configured check, opened and tagged, ready for the scheduler."""
    context = ProbeContext(store=store, exit_stack=exit_stack)
    by_kind: dict[str, list[Check]] = {}
    for check in config.checks.all:
        by_kind.setdefault(check.kind, []).append(check)
    scheduled: list[ScheduledCheck] = []
    for checks in by_kind.values():
        module = importlib.import_module(checks[0].probe.module)
        collects = await module.open_probes([c.spec for c in checks], context)
        scheduled += [
            ScheduledCheck(kind=c.kind, name=c.name, interval=c.interval_s,
                           timeout=c.timeout_s, tags={"agent": config.agent.name, "site": c.site},
                           collect=collects[c.name])
            for c in checks]
    return scheduled
