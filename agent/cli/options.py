"""What every verb shares: the -c and --format options, loading the config and the spool,
exit codes."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import click

from linkwatch.agent.text import printable

if TYPE_CHECKING:
    from linkwatch.agent.query.errors import QueryFailed

EXIT_OK, EXIT_NO_DATA, EXIT_USAGE, EXIT_UNREACHABLE = 0, 1, 2, 3

# Why a store could not answer (agent.query.errors) → exit status, and what to try.
_FAILURES: dict[str, tuple[int, str | None]] = {
    "unreachable": (EXIT_UNREACHABLE, "try --local to read this agent's own history"),
    "no_database": (EXIT_USAGE, "check `database:` (or `bucket:`) of the output, or "
                                "`select_url:` and `tenant:` of a victoriametrics one; or "
                                "use --local"),
    "bad_request": (EXIT_UNREACHABLE, None),
    "no_spool": (EXIT_NO_DATA, "run `linkwatch agent run --once -c CONFIG` first, or "
                               "check -c"),
    "no_output": (EXIT_USAGE, None),
}

config_option = click.option(
    "-c", "--config", "config_path", type=click.Path(dir_okay=False, path_type=Path),
    help="Config file. Default: $LINKWATCH_CONFIG, else ./config.yaml, else "
    "/etc/linkwatch/config.yaml.",
)
format_option = click.option(
    "--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table",
    show_default=True, help="Output format.",
)


class Duration(click.ParamType):
    """A duration written as in the config (`500ms`, `2s`, `10m`), in seconds, between
    `low` and `high` seconds."""

    name = "duration"

    def __init__(self, low: float, high: float) -> None:
        self.low, self.high = low, high

    def convert(self, value, param, ctx) -> float:
        if isinstance(value, int | float):
            return float(value)
        from linkwatch.agent.config.units import UnitError, parse_duration

        try:
            seconds = float(parse_duration(str(value)))
        except UnitError as e:
            self.fail(f"{value!r} is not {e.expected}: {e.hint}", param, ctx)
        if not self.low <= seconds <= self.high:
            self.fail(f"{value!r} is outside {self.low:g}s to {self.high:g}s", param, ctx)
        return seconds

    def get_metavar(self, param, ctx=None) -> str:
        return "DURATION"


output_option = click.option(
    "--output", "output_name", default=None, metavar="NAME",
    help="Which configured output (InfluxDB or VictoriaMetrics) to read or write, by its "
    "name or url. Default: the first.")
demo_option = click.option(
    "--demo", is_flag=True,
    help="Read the demo month (`linkwatch demo seed`), not the agent's data.")
def echo(message: str, *, err: bool = False, nl: bool = True) -> None:
    """Print `message` with its control characters escaped: what every verb prints goes
    through here (tables through agent.cli.table, which escapes each cell)."""
    click.echo(printable(message), err=err, nl=nl)


def load(config_path: Path | None, *, secrets: bool = True):
    """The config, or exit 2 with every problem listed (file:line:column, key, fix).

    `secrets=False` for commands that send nothing, so they work for a user who may not
    read the secret files (they are root:linkwatch 0640 on a service install).
    """
    from linkwatch.agent.config import ConfigError, find_config, load_config

    try:
        return load_config(find_config(config_path), secrets=secrets)
    except ConfigError as e:
        echo(str(e), err=True)
        sys.exit(EXIT_USAGE)


def fail(error: QueryFailed) -> NoReturn:
    """Say why the store could not answer, with what to try, and exit with its status."""
    status, hint = _FAILURES[error.kind]
    echo(f"{error}\n{hint}" if hint else str(error), err=True)
    sys.exit(status)


def open_local_spool(config, *, read_only: bool = True):
    """The config's spool for a command, or exit 1 saying why it cannot be opened.

    `read_only` (every command that only looks) never creates, writes or prunes anything,
    so it works for a user who may read the spool but not write it.
    """
    from linkwatch.agent.spool import open_spool

    path = config.agent.spool.path
    try:
        return open_spool(config, reader=True, read_only=read_only)
    except FileNotFoundError:
        echo(f"no spool at {path}: has the agent run with this config "
                   f"({config.source})? Try `linkwatch agent run --once -c {config.source}`",
                   err=True)
    except PermissionError:
        echo(f"this user may not {'read' if read_only else 'write'} the spool {path}: "
                   "run the command as the service's user (sudo -u linkwatch …)", err=True)
    sys.exit(EXIT_NO_DATA)


def pick_outputs(config, name: str | None):
    """The configured outputs `--output NAME` chooses (all of them without it); a usage
    error naming the configured ones when none is called so, or none is configured."""
    outputs = config.outputs
    if name is not None:
        outputs = tuple(o for o in outputs if name in (o.name, o.queue_name, *o.urls))
        if not outputs:
            known = ", ".join(o.queue_name for o in config.outputs) or "none"
            raise click.UsageError(f"no output named {name!r} in {config.source} "
                                   f"(configured: {known}){_did_you_mean(name, config)}")
    if not outputs:
        raise click.UsageError(f"{config.source} configures no output: add the InfluxDB "
                               "under `outputs:` (see docs/configuration.md)")
    return outputs


def pick_output(config, name: str | None):
    """The output `--output NAME` names, else the first configured."""
    return pick_outputs(config, name)[0]


def _did_you_mean(name: str, config) -> str:
    import difflib

    close = difflib.get_close_matches(name, [o.queue_name for o in config.outputs], n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def check_names(config, sites: tuple[str, ...], targets: tuple[str, ...] = ()) -> None:
    """A usage error for a --site the config does not declare, and for a --target that is
    not configured but close to one that is (a typo), with the closest name."""
    import difflib

    declared = sorted(s.name for s in config.sites)
    for site in sites:
        if declared and site not in declared:
            close = difflib.get_close_matches(site, declared, n=1)
            hint = f"did you mean {close[0]!r}?" if close else "declared: " + ", ".join(
                declared)
            raise click.UsageError(f"unknown site {site!r} in {config.source}: {hint}")
    checks = sorted({c.name for c in config.checks.with_state()})
    for target in targets:
        if target not in checks:
            # a target no longer configured may still be in the data: only a near miss is
            # taken for a typo
            close = difflib.get_close_matches(target, checks, n=1)
            if close:
                raise click.UsageError(f"unknown target {target!r} in {config.source}: "
                                       f"did you mean {close[0]!r}?")


def reading(config, *, demo: bool, local: bool):
    """The config a reading command uses: with `demo`, pointed at the demo's own stores,
    after checking that the demo was written."""
    if not demo:
        return config
    from linkwatch.agent.operations.demo import demo_config

    chosen = demo_config(config)
    if local and not chosen.agent.spool.path.exists():
        echo(f"no demo month for {config.source}: write one first with "
                   f"`linkwatch demo seed --local -c {config.source}`", err=True)
        sys.exit(EXIT_NO_DATA)
    return chosen
