"""What every verb shares: the -c and --format options, loading the config, exit codes."""

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
