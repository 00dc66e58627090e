"""`linkwatch agent install` and `linkwatch agent uninstall`."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from linkwatch.agent.cli.options import echo

_DIR = click.Path(file_okay=False, path_type=Path)


def _layout_options(command):
    for option in reversed([
        click.option("--prefix", type=_DIR, default=Path("/opt/linkwatch"), show_default=True,
                     help="The virtual environment holding the agent."),
        click.option("--config-dir", type=_DIR, default=Path("/etc/linkwatch"),
                     show_default=True, help="Where config.yaml (and `environment`) live."),
        click.option("--systemd-dir", type=_DIR, default=Path("/etc/systemd/system"),
                     show_default=True, help="Where the units go."),
        click.option("--state-dir", type=_DIR, default=Path("/var/lib/linkwatch"),
                     show_default=True, help="The spool's directory (the unit's state)."),
        click.option("--user", default="linkwatch", show_default=True,
                     help="The system user the service runs as."),
        click.option("--dry-run", is_flag=True, help="Print each step; change nothing."),
    ]):
        command = option(command)
    return command


@click.command("install")
@_layout_options
@click.option("--source", metavar="DIR|WHEEL",
              help="What to install. Default: the source tree or wheel the running "
              "linkwatch came from.")
@click.option("--python", "python", metavar="PATH",
              help="The interpreter for the virtual environment. Default: the one running "
              "this command (outside its virtual environment).")
def install(prefix: Path, config_dir: Path, systemd_dir: Path, state_dir: Path, user: str,
            dry_run: bool, source: str | None, python: str | None) -> None:
    """Install the agent as a systemd service; run it again to upgrade.

    \b
    Creates a virtual environment in --prefix and installs linkwatch into it (with the
    report's matplotlib), creates the system user, writes a config skeleton (an existing
    config is never overwritten) and puts the units in place: the agent's, and the
    monthly report's service and timer. It starts nothing: the next steps are printed.

    \b
    Examples:
      sudo .venv/bin/linkwatch agent install --dry-run
      sudo .venv/bin/linkwatch agent install --python /usr/bin/python3
      sudo /opt/linkwatch/bin/linkwatch agent install --source linkwatch-0.2.0.tar.gz
    """
    from linkwatch.agent.operations.install import (
        InstallError,
        default_python,
        find_source,
        install_steps,
        next_steps,
        unreachable_by_others,
    )

    layout = _layout(prefix, config_dir, systemd_dir, state_dir, user)
    try:
        python = python or default_python()
        blocked = unreachable_by_others(Path(python))
        if blocked is not None:
            raise InstallError(
                f"the service user cannot run {python}: {blocked} is closed to other users. "
                "Pass --python with an interpreter outside home directories, e.g. "
                "--python /usr/bin/python3 (apt-get install python3-venv)")
        _require_root(dry_run)
        _perform(install_steps(layout, source=find_source(source), python=python), dry_run)
    except InstallError as e:
        echo(f"linkwatch agent install: {e}", err=True)
        sys.exit(1)
    echo("")
    echo(next_steps(layout))


@click.command("uninstall")
@_layout_options
@click.option("--purge", is_flag=True,
              help="Also remove the config, the spool with its history, and the user.")
def uninstall(prefix: Path, config_dir: Path, systemd_dir: Path, state_dir: Path, user: str,
              dry_run: bool, purge: bool) -> None:
    """Remove the service and its virtual environment; keep config and spool unless --purge.

    \b
    Examples:
      sudo /opt/linkwatch/bin/linkwatch agent uninstall --dry-run
      sudo /opt/linkwatch/bin/linkwatch agent uninstall --purge
    """
    from linkwatch.agent.operations.install import (
        InstallError,
        kept_after_uninstall,
        systemd_running,
        uninstall_steps,
    )

    layout = _layout(prefix, config_dir, systemd_dir, state_dir, user)
    try:
        _require_root(dry_run)
        if not systemd_running():
            echo("This machine was not booted with systemd; on the server, first run:\n"
                 "  systemctl disable --now linkwatch-agent linkwatch-report.timer\n")
        _perform(uninstall_steps(layout, purge=purge), dry_run)
    except InstallError as e:
        echo(f"linkwatch agent uninstall: {e}", err=True)
        sys.exit(1)
    if not purge:
        echo(kept_after_uninstall(layout))


def _require_root(dry_run: bool) -> None:
    import os

    from linkwatch.agent.operations.install import InstallError

    if not dry_run and os.geteuid() != 0:
        raise InstallError("needs root (it creates a user and writes to system directories): "
                           "run it with sudo, or add --dry-run to see the steps")


def _perform(steps, dry_run: bool) -> None:
    for step in steps:
        if step.command.startswith("#"):  # nothing to do, only worth saying
            echo(step.command)
            continue
        echo(("would run: " if dry_run else "+ ") + step.command)
        if not dry_run:
            sys.stdout.flush()
            step.run()


def _layout(prefix: Path, config_dir: Path, systemd_dir: Path, state_dir: Path, user: str):
    from linkwatch.agent.operations.install import Layout

    return Layout(prefix=prefix.absolute(), config_dir=config_dir.absolute(),
                  systemd_dir=systemd_dir.absolute(), state_dir=state_dir.absolute(),
                  user=user)
