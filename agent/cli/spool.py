"""`linkwatch spool …`: what the agent's local spool holds."""

from __future__ import annotations

from pathlib import Path

import click

from linkwatch.agent.cli.options import config_option, echo, format_option, load


@click.group()
def spool() -> None:
    """Inspect the agent's local spool, and carry its points out by hand where no link exists."""


@spool.command("status")
@config_option
@format_option
def spool_status(config_path: Path | None, fmt: str) -> None:
    """Per output: points queued, age of the oldest unsent one, dead letters, last error;
    per notification channel (rows notify:NAME): messages undelivered, sent, errors.

    \b
    Example:
      linkwatch spool status -c /etc/linkwatch/config.yaml
    """
    from linkwatch.agent.cli.table import render
    from linkwatch.agent.spool.summary import COLUMNS, spool_rows

    config = load(config_path, secrets=False)
    from linkwatch.agent.spool import open_spool

    spool_ = open_spool(config, reader=True)
    try:
        rows, notes = spool_rows(spool_)
    finally:
        spool_.close()
    click.echo(render(rows, fmt, COLUMNS))
    if fmt == "table":
        for note in notes:
            echo(note)
