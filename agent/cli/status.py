"""`linkwatch status` and `linkwatch spool …`."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from agent.cli.options import (
    EXIT_NO_DATA,
    EXIT_OK,
    EXIT_UNREACHABLE,
    config_option,
    format_option,
    load,
    open_spool,
)


@click.command()
@config_option
@click.option("--local", is_flag=True, help="Read the agent's own spool, not InfluxDB.")
@format_option
def status(config_path: Path | None, local: bool, fmt: str) -> None:
    """The latest state of every target: UP, DOWN or UNKNOWN (no recent data), and its age.

    \b
    Examples:
      linkwatch status --local               from this agent's spool (works with no link)
      linkwatch status --format json         from the configured InfluxDB
    """
    import time

    from agent.status import COLUMNS, as_rows, latest_from_influx, target_status
    from agent.table import render

    config = load(config_path)
    if local:
        samples = _local_latest(config)
    else:
        if not config.outputs:
            raise click.UsageError("no output is configured: use --local to read the spool")
        from agent.query.influxql import BackendUnreachable

        try:
            samples = latest_from_influx(config)
        except BackendUnreachable as e:
            click.echo(f"cannot reach InfluxDB: {e}\ntry --local to read this agent's spool",
                       err=True)
            sys.exit(EXIT_UNREACHABLE)
    rows = as_rows(target_status(config, samples, time.time_ns()))
    click.echo(render(rows, fmt, COLUMNS))
    sys.exit(EXIT_OK if rows else EXIT_NO_DATA)


def _local_latest(config):
    spool_path = config.agent.spool.path
    if not spool_path.exists():
        click.echo(f"no spool at {spool_path}: has the agent run with this config?", err=True)
        sys.exit(EXIT_NO_DATA)
    spool_ = open_spool(config)
    try:
        return spool_.latest("ping") + spool_.latest("device")
    finally:
        spool_.close()


@click.group()
def spool() -> None:
    """Inspect the agent's local spool."""


@spool.command("status")
@config_option
@format_option
def spool_status(config_path: Path | None, fmt: str) -> None:
    """Per output: points queued, age of the oldest unsent one, dead letters, last error.

    \b
    Example:
      linkwatch spool status -c /etc/linkwatch/config.yaml
    """
    from agent.spool_report import COLUMNS, spool_rows
    from agent.table import render

    config = load(config_path)
    spool_ = open_spool(config)
    try:
        rows, notes = spool_rows(spool_)
    finally:
        spool_.close()
    click.echo(render(rows, fmt, COLUMNS))
    if fmt == "table":
        for note in notes:
            click.echo(note)
