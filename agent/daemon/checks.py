"""Opens the configured checks: probe code is imported only for the kinds a config uses."""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
from collections.abc import Sequence

from linkwatch.agent.config.schema import Config
from linkwatch.agent.daemon.scheduler import ScheduledCheck
from linkwatch.collector import PROBE_KINDS, ProbeContext, StateStore
from linkwatch.collector.path.probe import watch_paths


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


def with_site_capacity(check, config: Config):
    """An SNMP check whose `uplink` has no capacity of its own takes its site's contract.

    The uplink's in-direction is the site's download, its out-direction the upload.
    """
    if getattr(check, "uplink", None) is None:
        return check
    site_name = check.site or config.agent.site
    site = next((s for s in config.sites if s.name == site_name), None)
    if site is None or site.capacity is None:
        return check
    return dataclasses.replace(
        check,
        capacity_down=check.capacity_down or site.capacity.down,
        capacity_up=check.capacity_up or site.capacity.up,
    )


async def open_checks(
    config: Config, store: StateStore, exit_stack: contextlib.AsyncExitStack
) -> list[ScheduledCheck]:
    """Every configured check, opened and tagged, ready for the scheduler."""
    context = ProbeContext(store=store, exit_stack=exit_stack)
    scheduled: list[ScheduledCheck] = []
    for kind, checks in configured(config).items():
        checks = tuple(with_site_capacity(c, config) for c in checks)
        module = importlib.import_module(PROBE_KINDS[kind])
        collects = await module.open_probes(checks, context)
        collects = watch_paths(kind, collects, checks, context)
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
