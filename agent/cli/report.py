"""`linkwatch report` (the planners' report) and `linkwatch demo seed` (a month to try it on)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from linkwatch.agent.cli.options import (
    EXIT_NO_DATA,
    EXIT_UNREACHABLE,
    EXIT_USAGE,
    check_names,
    config_option,
    demo_option,
    echo,
    fail,
    load,
    output_option,
    pick_output,
    reading,
)

if TYPE_CHECKING:
    from linkwatch.agent.config.schema import Config, Output
    from linkwatch.agent.query.timerange import Month

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
@click.option("-o", "--file", "out", type=click.Path(dir_okay=False, path_type=Path),
              required=True, help="The file to write; its directory must exist.")
@click.option("--local", is_flag=True, help="Read the agent's own history, not a server.")
@output_option
@demo_option
def report(config_path: Path | None, period: str | None, since: str | None,
           until: str | None, sites: tuple[str, ...], lang: str, fmt: str, out: Path,
           local: bool, output_name: str | None, demo: bool) -> None:
    """The planners' report: availability, bandwidth and quality gaps per site, ranked.

    \b
    Examples:
      linkwatch report --period 2026-10 -o oct.html
      linkwatch report --period 2026-10 --lang en --format pdf -o oct.pdf
      linkwatch report --since 2026-10-01 --until 2026-10-16 --site quan-lan -o q.html
      linkwatch report --period 2026-10 --local --output district -o oct.html
      linkwatch report --period 2026-10 --output victoriametrics -o oct.html
    """
    import time

    from linkwatch.agent.query.selection import Selection
    from linkwatch.agent.query.timerange import Month, TimeRange, TimeRangeError

    config = reading(load(config_path, secrets=not local), demo=demo, local=local)
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
    check_names(config, sites)
    if not out.parent.is_dir():
        raise click.UsageError(f"cannot write {out}: the directory {out.parent} does not "
                               f"exist (create it first: mkdir -p {out.parent})")
    try:
        import matplotlib  # noqa: F401
        import numpy  # noqa: F401
    except ImportError:
        echo(_MISSING, err=True)
        sys.exit(EXIT_USAGE)
    from linkwatch.agent.cli.progress import Progress
    from linkwatch.agent.query.backend import open_backend
    from linkwatch.agent.query.errors import QueryFailed
    from linkwatch.agent.report.generate import write_report

    try:
        with Progress() as progress:
            backend = open_backend(config, local=local, output=output_name, progress=progress)
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
    except OSError as e:
        echo(f"cannot write {out}: {e.strerror or e}", err=True)
        sys.exit(EXIT_USAGE)
    echo(f"wrote {out} ({written.sites} sites)")
    if written.sites == 0 or not written.has_data:
        echo("no data in the period: the report is empty", err=True)
        sys.exit(EXIT_NO_DATA)


@click.group()
def demo() -> None:
    """Demonstration data, to read a report before the agent has run a month.

    \b
    The demo goes to a store of its own (a spool in ~/.cache/linkwatch/demo, or the database
    <database>_demo of the output), not into the agent's unless told (--real); every
    reading command reads it with --demo.

    \b
    Examples:
      linkwatch demo seed -c docs/examples/district.yaml --local --month 2026-10
      linkwatch report --demo --local -c docs/examples/district.yaml --period 2026-10 -o demo.html
      linkwatch uptime --demo --local -c docs/examples/district.yaml --since 2026-10-01
    """


@demo.command("seed")
@config_option
@click.option("--month", metavar="YYYY-MM",
              help="The month to write. Default: last month, in agent.timezone.")
@click.option("--local", is_flag=True, help="Write a spool (no server needed) instead of a server.")
@click.option("--output", "output_name", metavar="NAME",
              help="Which configured output (its name or url). Default: the first.")
@click.option("--real", is_flag=True,
              help="Write into the config's own spool or store, beside real data, "
              "instead of the demo's own store.")
@click.option("--yes", is_flag=True,
              help="With --real into a server: write without asking.")
def demo_seed(config_path: Path | None, month: str | None, local: bool,
              output_name: str | None, real: bool, yes: bool) -> None:
    """Write a realistic month for the config's sites (deterministic: same month, same data).

    It goes into the demo's own store (a spool of its own with --local, else the output's
    `<database>_demo`), read with `--demo`. Refused, with the reason, when the spool it
    writes would not keep the month. With --real into a server it asks first, or needs
    --yes: the month is made up, but its points carry the config's agent and site tags, so
    every query and report of that store counts them. victoria-metrics has no database of
    its own for a demo: it takes --real.

    \b
    Examples:
      linkwatch demo seed -c docs/examples/district.yaml --local --month 2026-10
      linkwatch demo seed -c district.yaml --month 2026-10      # into <database>_demo
      linkwatch demo seed -c demo.yaml --output victoriametrics --real --yes
    """
    import time

    from linkwatch.agent.cli.progress import Progress
    from linkwatch.agent.config.schema import InfluxOutput
    from linkwatch.agent.operations import demo as demo_data
    from linkwatch.agent.query.timerange import Month

    config = load(config_path, secrets=not local)
    try:
        chosen = (Month.parse(month, config.tz) if month
                  else Month.last_complete(config.tz, time.time_ns()))
    except ValueError as e:
        raise click.UsageError(str(e)) from e
    reader = "linkwatch report --local" if local else "linkwatch report"
    if local:
        written, where, kept = _seed_spool(config, chosen, real=real)
        read = f"{reader}{'' if real else ' --demo'} -c {config.source} --period {chosen}"
    else:
        output = pick_output(config, output_name)
        if real:
            if not yes and not _confirmed(output, config, chosen):
                echo(f"nothing written: demonstration data goes into {output.shown_url} only "
                     "with --yes (or a yes at the prompt); without --real it goes into the "
                     "demo's own store", err=True)
                sys.exit(EXIT_USAGE)
            target = output
        elif isinstance(output, InfluxOutput):
            target = demo_data.demo_output(output)
        else:
            raise click.UsageError(
                f"{output.queue_name} ({output.shown_url}) has no separate database for a "
                "demo: write into it with --real (it then holds a fabricated month), or use "
                "--local for the demo's own spool")
        try:
            with Progress() as progress:
                written = demo_data.seed_output(target, config, chosen, progress=progress)
        except RuntimeError as e:
            echo(f"{e}\ncheck the output in {config.source}, or use --local", err=True)
            sys.exit(EXIT_UNREACHABLE)
        where = (f"{target.shown_url} ({target.bucket or target.database})"
                 if isinstance(target, InfluxOutput) else target.shown_url)
        kept = written
        output_option = f" --output {output_name}" if output_name else ""
        read = (f"{reader}{'' if real else ' --demo'}{output_option} -c {config.source} "
                f"--period {chosen}")
    if kept == 0:
        echo(f"wrote {written} samples for {chosen} to {where}, but none was kept",
                   err=True)
        sys.exit(EXIT_NO_DATA)
    if kept < written:
        echo(f"wrote {written} samples for {chosen} to {where}; only {kept} were kept "
                   "(the spool's size cap or history removed the rest)", err=True)
        sys.exit(EXIT_NO_DATA)
    echo(f"wrote {written} samples for {chosen} to {where}\n"
               f"read them with: {read} -o demo.html")


def _seed_spool(config, month, *, real: bool) -> tuple[int, str, int]:
    """Written, where, and how many of them the spool holds afterwards."""
    import time

    from linkwatch.agent.cli.progress import Progress
    from linkwatch.agent.operations import demo as demo_data
    from linkwatch.agent.spool import Spool, open_spool

    if real:
        refusal = demo_data.refusal_for_spool(config, month, time.time_ns())
        if refusal is not None:
            raise click.UsageError(refusal)
        try:
            spool = open_spool(config, reader=True)
        except PermissionError as e:
            echo(f"this user may not write the spool {config.agent.spool.path} "
                       f"({e.strerror}): leave out --real to write the demo's own spool",
                       err=True)
            sys.exit(EXIT_USAGE)
    else:
        path = demo_data.demo_spool_path(config)
        need = demo_data.expected_samples(config, month) * demo_data.BYTES_PER_SAMPLE
        path.parent.mkdir(parents=True, exist_ok=True)
        for old in (path, path.with_name(path.name + "-wal"),
                    path.with_name(path.name + "-shm")):
            old.unlink(missing_ok=True)       # the demo spool holds the last month seeded
        free = shutil.disk_usage(path.parent).free
        if need > free:
            echo(f"{month} needs about {need / 2**20:.0f} MiB in {path.parent}, which "
                       f"has {free / 2**20:.0f} MiB free", err=True)
            sys.exit(EXIT_USAGE)
        spool = Spool.open(path, max_size=max(2 * need, 2**24), history_s=10 * 365 * 86400,
                           outputs=[], check=False)
    try:
        with Progress() as progress:
            written = demo_data.seed_spool(spool, config, month, progress=progress)
        kept = spool.count_between(month.since_ns, month.until_ns)
    finally:
        spool.close()
    return written, str(spool.path), kept


def _confirmed(output: Output, config: Config, month: Month) -> bool:
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
