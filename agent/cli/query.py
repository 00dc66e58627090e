"""The IT staff's query verbs: status, uptime, outages, bandwidth, latency, top, radio, power.

Thin on purpose: options are parsed here, the answers come from agent.query.answers (and
agent.query.status), and the rows are printed by agent.cli.table. Everything heavy is
imported inside the commands, so `linkwatch --help` stays fast.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import click

from linkwatch.agent.cli.options import (
    EXIT_NO_DATA,
    EXIT_OK,
    check_names,
    config_option,
    demo_option,
    echo,
    fail,
    format_option,
    load,
    output_option,
    reading,
)

if TYPE_CHECKING:
    import datetime as dt

    from linkwatch.agent.cli.progress import Progress
    from linkwatch.agent.config import Config
    from linkwatch.agent.query.backend import Backend
    from linkwatch.agent.query.selection import Selection

_COLOURS = {"UP": "green", "DOWN": "red", "UNREACHABLE": "yellow", "UNKNOWN": "bright_black"}


# -- completion -------------------------------------------------------------------------------

def _completion_config(ctx: click.Context):
    from linkwatch.agent.config import ConfigError, find_config, load_config

    try:
        return load_config(find_config(ctx.params.get("config_path")), secrets=False)
    except (ConfigError, OSError):
        return None


def _complete_sites(ctx: click.Context, _param, incomplete: str):
    from click.shell_completion import CompletionItem

    config = _completion_config(ctx)
    if config is None:
        return []
    return [CompletionItem(s.name, help=s.description) for s in config.sites
            if s.name.startswith(incomplete)]


def _complete_targets(ctx: click.Context, _param, incomplete: str):
    from click.shell_completion import CompletionItem

    config = _completion_config(ctx)
    if config is None:
        return []
    return [CompletionItem(c.name, help=f"{c.probe.title} {c.address or ''}".strip())
            for c in config.checks.with_state() if c.name.startswith(incomplete)]


# -- shared options ---------------------------------------------------------------------------

def query_options(default_since: str) -> Callable:
    """-c, --since, --until, --site, --target/--device, --local, --output, --demo,
    --format."""

    def decorate(command: Callable) -> Callable:
        for option in reversed([
            config_option,
            click.option("--since", default=default_since, show_default=True, metavar="WHEN",
                         help="Start: an age (24h, 7d), a date in agent.timezone "
                         "(2026-10-01) or ISO 8601 (2026-10-01T00:00:00Z)."),
            click.option("--until", default=None, metavar="WHEN",
                         help="End (exclusive), in the same forms. Default: now."),
            click.option("--site", "sites", multiple=True, shell_complete=_complete_sites,
                         help="Only this site (repeatable)."),
            click.option("--target", "--device", "targets", multiple=True,
                         shell_complete=_complete_targets,
                         help="Only this ping target or snmp device (repeatable)."),
            click.option("--local", is_flag=True,
                         help="Read the agent's own history (the spool), not a server."),
            output_option,
            demo_option,
            format_option,
        ]):
            command = option(command)
        return command

    return decorate


class _Context:
    """The loaded config, the period and the backend of one invocation."""

    def __init__(self, config: Config, selection: Selection, backend: Backend,
                 tz: dt.tzinfo, progress: Progress) -> None:
        self.config, self.selection, self.backend, self.tz = config, selection, backend, tz
        self._progress = progress

    def close(self) -> None:
        self.backend.close()
        self._progress.__exit__(None, None, None)     # the progress line is cleared


def _prepare(config_path: Path | None, since: str, until: str | None, sites: tuple[str, ...],
             targets: tuple[str, ...], local: bool, output_name: str | None,
             demo: bool = False) -> _Context:
    import time

    from linkwatch.agent.cli.progress import Progress
    from linkwatch.agent.query.backend import open_backend
    from linkwatch.agent.query.errors import QueryFailed
    from linkwatch.agent.query.selection import Selection
    from linkwatch.agent.query.timerange import TimeRange, TimeRangeError

    config = reading(load(config_path, secrets=not local), demo=demo, local=local)
    check_names(config, sites, targets)
    try:
        period = TimeRange.parse(since, until, tz=config.tz, now_ns=time.time_ns())
    except TimeRangeError as e:
        raise click.UsageError(str(e)) from e
    selection = Selection(period.since_ns, period.until_ns, sites, targets)
    progress = Progress()
    try:
        backend = open_backend(config, local=local, output=output_name, progress=progress)
    except QueryFailed as e:
        fail(e)
    return _Context(config, selection, backend, config.tz, progress)


def _answer(ctx: _Context, produce: Callable[[], list[dict]], fmt: str,
            columns: tuple[str, ...], paint=None) -> None:
    """Run the query, print the rows, exit 0 (rows), 1 (none), 2 or 3 (backend failed)."""
    from linkwatch.agent.cli.table import render
    from linkwatch.agent.query.errors import QueryFailed

    try:
        rows = produce()
    except QueryFailed as e:
        fail(e)
    finally:
        ctx.close()
    if not rows:
        if fmt == "json":
            echo("[]")
        echo("nothing matched in the period (check --since, --site, --target)",
                   err=True)
        sys.exit(EXIT_NO_DATA)
    colour = fmt == "table" and _colour_wanted()
    click.echo(render(rows, fmt, columns, paint=paint if colour else None))
    sys.exit(EXIT_OK)


def _colour_wanted() -> bool:
    return "NO_COLOR" not in os.environ and sys.stdout.isatty()


def _paint_state(column: str, value: object, text: str) -> str:
    if column == "state" and value in _COLOURS:
        return click.style(text, fg=_COLOURS[str(value)])
    return text


def _paint_outage(column: str, value: object, text: str) -> str:
    if column == "ended_by" and value == "ongoing":
        return click.style(text, fg="red")
    if column == "cause" and value in ("power", "radio"):
        return click.style(text, fg="yellow")
    return text


def _paint_radio(column: str, value: object, text: str) -> str:
    if column == "minutes_degraded" and isinstance(value, int) and value > 0:
        return click.style(text, fg="yellow")
    return text


def _paint_bandwidth(column: str, value: object, text: str) -> str:
    from linkwatch.agent.query.bandwidth import THRESHOLDS

    warn, upgrade = THRESHOLDS
    if column == "util_p95_pct" and isinstance(value, int | float) and value > warn:
        return click.style(text, fg="red" if value > upgrade else "yellow")
    if column == "insufficient" and value is True:
        return click.style(text, fg="yellow")
    return text


def _paint_availability(column: str, value: object, text: str) -> str:
    from linkwatch.agent.config.schema import SiteRequirements
    from linkwatch.agent.query.availability import POOR_PCT

    target = SiteRequirements.availability_pct
    if column == "availability_pct" and isinstance(value, int | float) and value < target:
        return click.style(text, fg="red" if value < POOR_PCT else "yellow")
    return text


def _min_cycles(command: Callable) -> Callable:
    return click.option(
        "--min-cycles", type=click.IntRange(min=1), default=None,
        help="Consecutive failed cycles that make an outage; shorter runs are flaps. "
        "Default: the config's alerts.outage_cycles (3), the N the alerts use.",
    )(command)


def _with_context(command: Callable) -> Callable:
    @functools.wraps(command)
    def wrapper(config_path, since, until, sites, targets, local, output_name, demo, fmt,
                **extra):
        ctx = _prepare(config_path, since, until, sites, targets, local, output_name, demo)
        return command(ctx, fmt, **extra)

    return wrapper


# -- verbs ------------------------------------------------------------------------------------

@click.command()
@query_options("24h")
@_with_context
def status(ctx: _Context, fmt: str) -> None:
    """Every target now: UP, DOWN, UNREACHABLE (its parent site's link is down) or UNKNOWN
    (no recent data), since when, the last loss and RTT, and uplink utilisation.

    --since is how far back to look for when the state began.

    \b
    Examples:
      linkwatch status                         from the first configured output
      linkwatch status --local                 from this agent's history (works with no link)
      linkwatch status --output victoriametrics
      linkwatch status --site quan-lan --format json
    """
    import time

    from linkwatch.agent.query.status import COLUMNS, as_rows, current_status

    _answer(ctx, lambda: as_rows(current_status(ctx.config, ctx.backend, ctx.selection,
                                                time.time_ns(), ctx.tz)),
            fmt, COLUMNS, _paint_state)


@click.command()
@query_options("7d")
@_min_cycles
@_with_context
def uptime(ctx: _Context, fmt: str, min_cycles: int | None) -> None:
    """Availability per target and per site: availability %, coverage %, downtime,
    outages, flaps, MTTR and MTBF (definitions: docs/cli.md).

    \b
    Examples:
      linkwatch uptime --since 30d
      linkwatch uptime --since 2026-10-01 --until 2026-11-01 --site ngoc-vung
      linkwatch uptime --local --format csv > uptime.csv
    """
    min_cycles = min_cycles or ctx.config.alerts.outage_cycles
    from linkwatch.agent.query import answers

    _answer(ctx, lambda: answers.uptime(ctx.config, ctx.backend, ctx.selection,
                                min_cycles=min_cycles), fmt, answers.UPTIME_COLUMNS,
            _paint_availability)


@click.command()
@query_options("7d")
@_min_cycles
@_with_context
def outages(ctx: _Context, fmt: str, min_cycles: int | None) -> None:
    """Every outage: start, end (or ongoing), duration, site, target, its cause (power,
    radio or link, with the evidence) and whether it was charged to the parent site's link.

    \b
    Cause (docs/cli.md): power when a UPS of the site (or its parent) was on battery, or
    went silent with the site after running on battery, during the outage; radio when a
    radio link of the site was degraded in the 15 minutes before; link otherwise.

    \b
    Examples:
      linkwatch outages --since 30d --site minh-chau
      linkwatch outages --since 2026-10-01 --min-cycles 5 --format json
    """
    min_cycles = min_cycles or ctx.config.alerts.outage_cycles
    from linkwatch.agent.query import answers

    _answer(ctx, lambda: answers.outages(ctx.config, ctx.backend, ctx.selection,
                                min_cycles=min_cycles, tz=ctx.tz), fmt, answers.OUTAGE_COLUMNS,
            _paint_outage)


@click.command()
@query_options("7d")
@_with_context
def bandwidth(ctx: _Context, fmt: str) -> None:
    """Traffic per interface and direction: mean, p95 and max of the valid 5-minute
    averages, utilisation against capacity, minutes above 70% and 80%, coverage.

    \b
    Examples:
      linkwatch bandwidth --since 30d --site cai-rong
      linkwatch bandwidth --device core-switch --format csv
    """
    from linkwatch.agent.query.answers import BANDWIDTH_COLUMNS, bandwidth_rows

    _answer(ctx, lambda: bandwidth_rows(ctx.config, ctx.backend, ctx.selection), fmt,
            BANDWIDTH_COLUMNS, _paint_bandwidth)


@click.command()
@query_options("24h")
@_with_context
def latency(ctx: _Context, fmt: str) -> None:
    """Round-trip time (median, p95), loss % and jitter per ping target.

    \b
    Examples:
      linkwatch latency --since 7d
      linkwatch latency --target quan-lan-router --local
    """
    from linkwatch.agent.query import answers

    _answer(ctx, lambda: answers.latency(ctx.config, ctx.backend, ctx.selection), fmt,
            answers.LATENCY_COLUMNS)


@click.command()
@query_options("7d")
@_min_cycles
@click.option("--limit", type=click.IntRange(min=1), default=10, show_default=True,
              help="How many links and sites to list.")
@_with_context
def top(ctx: _Context, fmt: str, min_cycles: int | None, limit: int) -> None:
    """The busiest links (p95 utilisation) and the worst sites (availability).

    \b
    Examples:
      linkwatch top --since 30d
      linkwatch top --limit 5 --format json
    """
    min_cycles = min_cycles or ctx.config.alerts.outage_cycles
    from linkwatch.agent.query import answers

    _answer(ctx, lambda: answers.top(ctx.config, ctx.backend, ctx.selection, limit=limit,
                                min_cycles=min_cycles), fmt, answers.TOP_COLUMNS)


@click.command()
@query_options("7d")
@_with_context
def radio(ctx: _Context, fmt: str) -> None:
    """Per radio link (device and radio/station, from device profiles): signal, noise, CCQ
    and rates (median, p5 and worst of the 5-minute means), and minutes degraded.

    A 5-minute window is degraded when its mean signal is below the site's
    `radio_floor_dbm` (default -75 dBm) or its mean CCQ below `radio_min_ccq_pct` (70 %).

    \b
    Examples:
      linkwatch radio --since 30d --site quan-lan
      linkwatch radio --device quan-lan-ap --format json
      linkwatch radio --local --format csv > radio.csv
    """
    from linkwatch.agent.query import answers

    _answer(ctx, lambda: answers.radio_rows(ctx.config, ctx.backend, ctx.selection), fmt,
            answers.RADIO_COLUMNS, _paint_radio)


@click.command()
@query_options("30d")
@_with_context
def power(ctx: _Context, fmt: str) -> None:
    """Per site with a UPS (from device profiles): minutes on battery, power events, the
    longest run on battery, the lowest battery charge, and how often the battery ran flat
    (the UPS went silent with the whole site after running on battery).

    \b
    Examples:
      linkwatch power --since 30d
      linkwatch power --site quan-lan --local --format json
    """
    from linkwatch.agent.query import answers

    _answer(ctx, lambda: answers.power_rows(ctx.config, ctx.backend, ctx.selection), fmt,
            answers.POWER_COLUMNS)
