"""`linkwatch spool …`: what the agent's local spool holds."""

from __future__ import annotations

from pathlib import Path

import click

from linkwatch.agent.cli.options import (
    config_option,
    echo,
    format_option,
    load,
    open_local_spool,
)


@click.group()
def spool() -> None:
    """Inspect the agent's local spool, and carry its points out by hand where no link exists.

    \b
    Examples:
      linkwatch spool status -c /etc/linkwatch/config.yaml      queued, dead letters, disk
      linkwatch spool export -c /etc/linkwatch/config.yaml -o /media/usb/ngoc-vung.tar
      linkwatch spool import /media/usb/ngoc-vung.tar -c /etc/linkwatch/config.yaml
    """


@spool.command("status")
@config_option
@format_option
def spool_status(config_path: Path | None, fmt: str) -> None:
    """Per output: points queued, age of the oldest unsent one, dead letters, last error;
    per notification channel (rows notify:NAME): messages undelivered, sent, errors;
    and, when the backlog is over an hour old, whether the server keeps points that old.

    \b
    Example:
      linkwatch spool status -c /etc/linkwatch/config.yaml
    """
    from linkwatch.agent.cli.table import render
    from linkwatch.agent.spool.summary import ALL_COLUMNS, COLUMNS, spool_rows

    config = load(config_path, secrets=False)
    spool_ = open_local_spool(config)
    try:
        rows, notes = spool_rows(spool_, tz=config.tz)
        retention = _retention_notes(config, spool_)
    finally:
        spool_.close()
    if fmt == "table":
        shown = [r for r in rows if r["output"] is not None]
        if shown:
            echo(render(shown, fmt, COLUMNS))
        for note in [*notes, *(n for found in retention.values() for n in found)]:
            echo(note)
    else:  # the notes' facts are keys of every row
        for row in rows:
            row["retention_warning"] = " ".join(retention.get(row["output"], [])) or None
        echo(render(rows, fmt, (*ALL_COLUMNS, "retention_warning")))


def _retention_notes(config, spool_) -> dict[str, list[str]]:
    """Per output (its queue name) with a backlog over an hour old: whether its server would
    drop part of it."""
    import time
    from functools import partial

    from linkwatch.agent.outputs.retention import backlog_notes

    now_ns = time.time_ns()
    oldest = {o.output: o.oldest_unsent_ns for o in spool_.stats().outputs}
    return {output.queue_name: backlog_notes(
                output, oldest[output.queue_name],
                partial(spool_.queued_before, output.queue_name),
                float(config.agent.spool.history), now_ns)
            for output in config.outputs if output.queue_name in oldest}
