"""`linkwatch spool export` and `linkwatch spool import`: carrying points out by hand."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from linkwatch.agent.cli.options import (
    EXIT_OK,
    EXIT_UNREACHABLE,
    EXIT_USAGE,
    Duration,
    config_option,
    load,
    open_local_spool,
    pick_output,
    pick_outputs,
)


@click.command("export")
@config_option
@click.option("-o", "--file", "target", required=True,
              type=click.Path(dir_okay=False, path_type=Path), help="The file to write (.tar).")
@click.option("--output", "output_name", metavar="NAME",
              help="Which output's queue (its name). Default: the first.")
@click.option("--since", help="Only points collected at or after this (24h, 2026-10-01, ISO).")
@click.option("--until", help="Only points collected before this.")
@click.option("--mark-sent", is_flag=True,
              help="Take the exported points out of the queue once the file is written.")
def export_command(config_path: Path | None, target: Path, output_name: str | None,
                   since: str | None, until: str | None, mark_sent: bool) -> None:
    """Write the points an output has not received to one file, to carry it out by hand.

    The file is a tar of points.lp.gz (gzip line protocol) and manifest.json (agent, site,
    time range, point count, SHA-256). Nothing is marked as sent unless --mark-sent.

    \b
    Examples:
      linkwatch spool export -o /media/usb/ngoc-vung.tar
      linkwatch spool export --since 2026-11-01 --until 2026-11-08 --mark-sent -o week.tar
    """
    import time

    from linkwatch.agent.operations.carry import CarryError, export
    from linkwatch.agent.query.timerange import TimeRangeError, parse_instant

    config = load(config_path, secrets=False)
    output = pick_output(config, output_name)
    now_ns = time.time_ns()
    try:
        tz = config.tz
        since_ns = None if since is None else parse_instant(since, tz=tz, now_ns=now_ns,
                                                           option="--since")
        until_ns = None if until is None else parse_instant(until, tz=tz, now_ns=now_ns,
                                                           option="--until")
    except TimeRangeError as e:
        raise click.UsageError(str(e)) from e
    spool = open_local_spool(config, read_only=not mark_sent)
    try:
        if output.queue_name not in {o.output for o in spool.stats().outputs}:
            click.echo(f"the spool {config.agent.spool.path} has no queue for "
                       f"{output.queue_name!r}: has the agent run with this config?", err=True)
            sys.exit(EXIT_USAGE)
        manifest = export(spool, output=output.queue_name, path=target,
                          agent=config.agent.name, site=config.agent.site,
                          since_ns=since_ns, until_ns=until_ns, mark_sent=mark_sent)
    except CarryError as e:
        click.echo(str(e), err=True)
        sys.exit(EXIT_USAGE)
    finally:
        spool.close()
    from linkwatch.agent.query.timerange import iso

    click.echo(f"{target}: {manifest.points} points for {manifest.output} "
               f"({iso(manifest.first_ns)} to {iso(manifest.last_ns)}), "
               f"sha256 {manifest.sha256[:16]}…"
               + ("; marked as sent" if mark_sent else "; still queued (no --mark-sent)"))


@click.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@config_option
@click.option("--output", "output_name", metavar="NAME",
              help="Only this output (its name). Default: every output.")
@click.option("--give-up-after", default="10m", show_default=True,
              type=Duration(0, 30 * 86400),
              help="How long to keep retrying an unreachable server (30s, 10m, 2h).")
def import_command(file: Path, config_path: Path | None, output_name: str | None,
                   give_up_after: float) -> None:
    """Verify an export and write its points to the configured InfluxDB.

    Uses the agent's own batching and retries. Importing the same file twice changes
    nothing: InfluxDB keeps one value per series and timestamp.

    \b
    Example:
      linkwatch spool import /media/usb/ngoc-vung.tar -c /etc/linkwatch/config.yaml
    """
    import asyncio

    from linkwatch.agent.operations.carry import CarryError, deliver, read_manifest
    from linkwatch.agent.query.timerange import iso

    config = load(config_path)
    outputs = pick_outputs(config, output_name)
    try:
        manifest = read_manifest(file)
    except CarryError as e:
        click.echo(str(e), err=True)
        sys.exit(EXIT_USAGE)
    click.echo(f"{file}: {manifest.points} points from agent {manifest.agent} "
               f"(site {manifest.site}), {iso(manifest.first_ns)} to {iso(manifest.last_ns)}; "
               "checksum ok")
    failed = False
    for output in outputs:
        result = asyncio.run(deliver(file, manifest, output, give_up_after=give_up_after))
        line = (f"{output.queue_name}: {result.delivered} of {result.points} points written "
                f"in {result.seconds:.1f}s")
        if result.dead_letters:
            line += f", {len(result.dead_letters)} refused by the server"
            for text, message in result.dead_letters[:5]:
                line += f"\n  refused: {message}: {text[:120].decode(errors='replace')}"
        click.echo(line)
        if not result.complete:
            failed = True
            click.echo(f"{output.queue_name}: stopped: {result.error}. Run the same command "
                       "again when it is fixed: points already written are rewritten "
                       "with the same values.", err=True)
    sys.exit(EXIT_UNREACHABLE if failed else EXIT_OK)
