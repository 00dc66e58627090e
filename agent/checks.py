"""Opens the configured checks: probe code is imported only for the kinds a config uses."""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Sequence

from agent.config.schema import Config
from agent.scheduler import ScheduledCheck
from collector import PROBE_KINDS, ProbeContext, StateStore


def configured(config: Config) -> dict[str, tuple]:
    """Check dataclasses per kind, for the kinds the config uses."""
    found: dict[str, tuple] = {}
    for kind in PROBE_KINDS:
        value = getattr(config.checks, kind, None)
        if value is None:
            continue
        checks = tuple(value) if isinstance(value, Sequence) else (value,)
        if checks:
            found[kind] = checks
    return found


async def open_checks(
    config: Config, store: StateStore, exit_stack: contextlib.AsyncExitStack
) -> list[ScheduledCheck]:
    """Every configured check, opened and tagged, ready for the scheduler."""
    context = ProbeContext(store=store, exit_stack=exit_stack)
    scheduled: list[ScheduledCheck] = []
    for kind, checks in configured(config).items():
        module = importlib.import_module(PROBE_KINDS[kind])
        collects = await module.open_probes(checks, context)
        for check in checks:
            scheduled.append(
                ScheduledCheck(
                    kind=kind,
                    name=check.name,
                    interval=float(check.interval),
                    timeout=float(check.timeout or check.interval),
                    tags={"agent": config.agent.name, "site": check.site or config.agent.site},
                    collect=collects[check.name],
                )
            )
    return scheduled
