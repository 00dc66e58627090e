"""`linkwatch report` (the planners' report) and `linkwatch demo seed` (a month to try it on)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from linkwatch.agent.cli.options import (
    EXIT_NO_DATA,
    EXIT_UNREACHABLE,
    EXIT_USAGE,
    config_option,
    echo,
    fail,
    load,
)

if TYPE_CHECKING:
    from linkwatch.agent.config.schema import Config, Output

_MISSING = ("the report needs matplotlib and numpy: pip install 'linkwatch[report]' "
            "(or pip install matplotlib numpy)")


@click.command()
@config_option
@click.option("--period", metavar="YYYY-MM", help="A calendar month in agent.timezone.")
@click.option("--since", help="Start: a date (2026-10-01), ISO 8601, or an age (30d).")
@click.option("--until", help="End (exclusive); default now.")
@click.option("--site", "sites", multiple=True, help="Only this site (repeatable).")
@click.option("--lang", type=click.Choice(["vi", "en"]), default="vi", show_default=True,
              help="Language of every word, number and date.")
@click.option("--format", "fmt", type=click.Choice(["html", "pdf", "csv"]), default="html",
              show_default=True, help="html: one self-contained file; pdf: printed by "
              "Chromium; csv: a zip of one table per section.")
@click.option("-o", "--output", "out", type=click.Path(dir_okay=False, path_type=Path),
              required=True, help="File to write.")
@click.option("--local", is_flag=True, help="Read the agent's own history, not a server.")
@click.option("--store", "store", default=None, metavar="NAME",
              help="Which configured output to read (its name or url). Default: the first.")
def report(config_path: Path | None, period: str | None, since: str | None,
           until: str | None, sites: tuple[str, ...], lang: str, fmt: str, out: Path,
           local: bool, store: str | None) -> None:
    """The planners' report: availability, bandwidth and quality gaps per site, ranked.

    \b
    Examples:
      linkwatch report --period 2026-10 -o oct.html
      linkwatch report --period 2026-10 --lang en --format pdf -o oct.pdf
      linkwatch report --since 2026-10-01 --until 2026-10-16 --site quan-lan -o q.html
      linkwatch report --period 2026-10 --store victoriametrics -o oct.html
    """
    import time

    from linkwatch.agent.query.selection import Selection
    from linkwatch.agent.query.timerange import Month, TimeRange, TimeRangeError

    config = load(config_path, secrets=not local)
    if (period is None) == (since is None):
        raise click.UsageError("give either --period YYYY-MM or --since (with --until)")
    try:
        if period is not None:
            month = Month.parse(period, config.tz)
            since_ns, until_ns = month.since_ns, month.until_ns
        elif since is not None:
            span = TimeRange.parse(since, until, tz=config.tz, now_ns=time.time_ns())
            since_ns, until_ns = span.since_ns, span.until_ns
    except (ValueError, TimeRangeError) as e:
        raise click.UsageError(str(e)) from e
    known = {s.name for s in config.sites}
    unknown = [s for s in sites if known and s not in known]
    if unknown:
        raise click.UsageError(f"unknown site {', '.join(unknown)}: the config "
                               f"{config.source} declares {', '.join(sorted(known))}")
    try:
        import matplotlib  # noqa: F401
        import numpy  # noqa: F401
    except ImportError:
        echo(_MISSING, err=True)
        sys.exit(EXIT_USAGE)
    from linkwatch.agent.query.backend import open_backend
    from linkwatch.agent.query.errors import QueryFailed
    from linkwatch.agent.report.generate import write_report

    try:
        backend = open_backend(config, local=local, output=store)
        try:
            written = write_report(config, backend, Selection(since_ns, until_ns, sites),
                                   lang=lang, fmt=fmt, out=out)
        finally:
            backend.close()
    except QueryFailed as e:
        fail(e)
    except RuntimeError as e:
        echo(str(e), err=True)
        sys.exit(EXIT_USAGE)
    echo(f"wrote {out} ({written.sites} sites)")
    if written.sites == 0 or not written.has_data:
        echo("no data in the period: the report is empty", err=True)
        sys.exit(EXIT_NO_DATA)


@click.group()
def demo() -> None:
    """Demonstration data, to read a report before the agent has run a month."""


@demo.command("seed")
@config_option
@click.option("--month", default="2026-10", show_default=True, metavar="YYYY-MM")
@click.option("--local", is_flag=True, help="Write to the agent's spool, not a server.")
@click.option("--output", "output_name", default=None, metavar="NAME",
              help="Which configured output to write (its name or url). Default: the first.")
@click.option("--yes", is_flag=True,
              help="Write into the configured store without asking (it then holds a "
              "fabricated month under the config's real agent and site tags).")
def demo_seed(config_path: Path | None, month: str, local: bool, output_name: str | None,
              yes: bool) -> None:
    """Write a realistic month for the config's sites (deterministic: same month, same data).

    Into a configured store (without --local) it asks first, or needs --yes: the month is
    made up, but its points carry the config's agent and site tags, so every query and
    report of that store counts them.

    \b
    Examples:
      linkwatch demo seed -c docs/examples/district.yaml --local
      linkwatch demo seed -c demo.yaml --month 2026-10 --yes    # into a demo InfluxDB
      linkwatch demo seed -c demo.yaml --output victoriametrics --yes
    """
    from linkwatch.agent.operations import demo as demo_data
    from linkwatch.agent.query.timerange import Month

    config = load(config_path, secrets=not local)
    try:
        chosen = Month.parse(month, config.tz)
    except ValueError as e:
        raise click.UsageError(str(e)) from e
    if local:
        from linkwatch.agent.spool import open_spool

        spool_ = open_spool(config, reader=True)
        try:
            count = demo_data.seed_spool(spool_, config, chosen)
        finally:
            spool_.close()
        echo(f"wrote {count} samples for {month} to {config.agent.spool.path}")
        return
    output = config.output(output_name)
    if output is None:
        named = f"named {output_name!r} " if output_name else ""
        raise click.UsageError(f"no output {named}is configured: use --local to write the "
                               "spool")
    if not yes and not _confirmed(output, config, month):
        echo(f"nothing written: demonstration data goes into {output.shown_url} only with "
             "--yes (or a yes at the prompt); --local writes it to the spool instead",
             err=True)
        sys.exit(EXIT_USAGE)
    try:
        count = demo_data.seed_output(output, config, chosen)
    except RuntimeError as e:
        echo(f"{e}\ncheck the output in {config.source}, or use --local", err=True)
        sys.exit(EXIT_UNREACHABLE)
    echo(f"wrote {count} samples for {month} to output {output.queue_name} "
         f"({output.shown_url})")


def _confirmed(output: Output, config: Config, month: str) -> bool:
    """Whether the person at the terminal agrees to fabricated data in a real store; no
    terminal, no agreement."""
    from linkwatch.agent.config.schema import InfluxOutput

    if not sys.stdin.isatty():
        return False
    where = (f"{output.shown_url}, database {output.bucket or output.database}"
             if isinstance(output, InfluxOutput) else output.shown_url)
    return click.confirm(
        f"Write a fabricated month ({month}) for {len(config.sites)} sites into {where}, "
        f"tagged agent {config.agent.name}? Every query and report of that store will "
        "count it", default=False)
