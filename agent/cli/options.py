"""What every verb shares: the -c and --format options, loading the config and the spool,
exit codes."""

from __future__ import annotations

import sys
from pathlib import Path

import click

EXIT_OK, EXIT_NO_DATA, EXIT_USAGE, EXIT_UNREACHABLE = 0, 1, 2, 3

config_option = click.option(
    "-c", "--config", "config_path", type=click.Path(dir_okay=False, path_type=Path),
    help="Config file. Default: $LINKWATCH_CONFIG, else ./config.yaml, else "
    "/etc/linkwatch/config.yaml.",
)
format_option = click.option(
    "--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table",
    show_default=True, help="Output format.",
)


def load(config_path: Path | None, *, secrets: bool = True):
    """The config, or exit 2 with every problem listed (file:line:column, key, fix).

    `secrets=False` for commands that send nothing, so they work for a user who may not
    read the secret files (they are root:linkwatch 0640 on a service install).
    """
    from linkwatch.agent.config import ConfigError, find_config, load_config

    try:
        return load_config(find_config(config_path), secrets=secrets)
    except ConfigError as e:
        click.echo(str(e), err=True)
        sys.exit(EXIT_USAGE)



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
        click.echo(f"no spool at {path}: has the agent run with this config "
                   f"({config.source})? Try `linkwatch agent run --once -c {config.source}`",
                   err=True)
    except PermissionError:
        click.echo(f"this user may not {'read' if read_only else 'write'} the spool {path}: "
                   "run the command as the service's user (sudo -u linkwatch …)", err=True)
    sys.exit(EXIT_NO_DATA)
