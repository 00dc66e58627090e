"""`linkwatch alerts`: what fires now and what fired; `linkwatch alerts test`: a test message
over every channel, saying which ones worked."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from linkwatch.agent.cli.options import EXIT_OK, EXIT_UNREACHABLE, load
from linkwatch.agent.cli.query import query_options

TEST_COLUMNS = ("channel", "kind", "recipient", "result")


@click.group(invoke_without_command=True)
@query_options("now")
@click.pass_context
def alerts(ctx: click.Context, config_path: Path | None, since: str, until: str | None,
           sites: tuple[str, ...], targets: tuple[str, ...], local: bool,
           output_name: str | None, demo: bool, fmt: str) -> None:
    """What fires now (firing, flapping, and suppressed behind a down parent or a
    maintenance window), or with --since every change of every alert in the period.

    Without --local the central store answers (every agent's `alert` points); with it,
    this agent's own alert states and history.

    \b
    Examples:
      linkwatch alerts                          firing now, in the central store
      linkwatch alerts --local                  this agent's own view (works with no link)
      linkwatch alerts --since 7d --format csv  every change of the last week
      linkwatch alerts test                     a test message over every channel
    """
    if ctx.invoked_subcommand is not None:
        return
    from linkwatch.agent.alerts import history
    from linkwatch.agent.cli.query import _answer, _prepare

    history_wanted = since.strip().lower() != "now"
    context = _prepare(config_path, since if history_wanted else "30d", until, sites, targets,
                       local, output_name, demo)
    config, sel, tz = context.config, context.selection, context.tz

    def rows() -> list[dict]:
        if history_wanted:
            found = history.history(context.backend, sel, tz)
        elif local:
            from linkwatch.agent.spool import open_spool

            spool = open_spool(config, reader=True, read_only=True)
            try:
                found = history.now_local(config, spool.alerts(), time.time_ns(), tz)
            finally:
                spool.close()
        else:
            found = history.now_in_store(context.backend, sel, tz, time.time_ns())
        return [r for r in found if sel.wants(str(r["site"]))
                and (not sel.targets or str(r["subject"]).split(" ")[0] in sel.targets)]

    _answer(context, rows, fmt, history.COLUMNS, _paint_alert)


def _paint_alert(column: str, value: object, text: str) -> str:
    colours = {"firing": "red", "flapping": "yellow", "suppressed": "bright_black",
               "resolved": "green", "critical": "red", "warning": "yellow"}
    if column in ("state", "severity") and value in colours:
        return click.style(text, fg=colours[str(value)])
    return text


@alerts.command("test")
@click.option("-c", "--config", "config_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Config file. Default: $LINKWATCH_CONFIG, else ./config.yaml, else "
              "/etc/linkwatch/config.yaml.")
@click.option("--channel", "names", multiple=True, metavar="NAME",
              help="Only this channel (repeatable). Default: every channel under notify:.")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table",
              show_default=True, help="Output format.")
def test_channels(config_path: Path | None, names: tuple[str, ...], fmt: str) -> None:
    """Send a test message over each channel (each chat, each phone number) now, and say
    which ones worked. Nothing goes through the outbox; an Alertmanager is asked for its
    status instead, so no receiver is paged.

    \b
    Examples:
      linkwatch alerts test -c /etc/linkwatch/config.yaml
      linkwatch alerts test --channel it-zalo --channel island-sms
    """
    from linkwatch.agent.alerts.channels import Undelivered, recipients, send
    from linkwatch.agent.alerts.messages import Words, trial_message
    from linkwatch.agent.cli.table import render

    config = load(config_path)
    channels = [c for c in config.notify.channels if not names or c.name in names]
    unknown = sorted(set(names) - {c.name for c in channels})
    if unknown or not channels:
        known = ", ".join(c.name for c in config.notify.channels) or "none"
        click.echo(f"no channel named {', '.join(unknown)} in {config.source} (known: {known})"
                   if unknown else f"no channel under `notify:` in {config.source}", err=True)
        sys.exit(2)
    rows = []
    for channel in channels:
        words = Words(channel.language or config.alerts.language, config.tz)
        message = trial_message(words, agent=config.agent.name, channel=channel.name,
                                dedupe_key=f"test-{time.time_ns()}")
        for recipient in recipients(channel):
            try:
                send(channel, message, recipient, lambda: None)
            except Undelivered as e:
                result = f"FAILED: {e}"
            else:
                result = "ok"
            rows.append({"channel": channel.name, "kind": channel.kind,
                         "recipient": recipient or None, "result": result})
    click.echo(render(rows, fmt, TEST_COLUMNS))
    sys.exit(EXIT_OK if all(r["result"] == "ok" for r in rows) else EXIT_UNREACHABLE)

