"""`linkwatch agent run` and `linkwatch config check`."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from linkwatch.agent.cli.options import config_option, echo, load


@click.group()
def agent() -> None:
    """Run the agent, or install it as a systemd service.

    \b
    Examples:
      linkwatch agent run -c /etc/linkwatch/config.yaml     poll, spool and ship until SIGTERM
      linkwatch agent run --once && linkwatch status --local
      sudo .venv/bin/linkwatch agent install --dry-run     the steps of a service install
      sudo /opt/linkwatch/bin/linkwatch agent uninstall
    """


@agent.command("run")
@config_option
@click.option("--once", is_flag=True,
              help="Run every check once, deliver what can be delivered, and exit.")
@click.option("-v", "--verbose", is_flag=True, help="Log debug messages too.")
def agent_run(config_path: Path | None, once: bool, verbose: bool) -> None:
    """Poll every configured check, spool each sample, and ship it to the outputs.

    \b
    Signals: SIGTERM/SIGINT stop it within 5 s with everything collected committed;
    SIGHUP re-reads the config (an invalid one is logged and the old one kept).

    \b
    Examples:
      linkwatch agent run -c /etc/linkwatch/config.yaml
      linkwatch agent run --once && linkwatch status --local
    """
    import asyncio
    import logging

    from linkwatch.agent.config.secrets import collect_secrets
    from linkwatch.agent.daemon.logs import configure_logging
    from linkwatch.agent.daemon.service import run_agent

    config = load(config_path)
    logs = configure_logging(level=logging.DEBUG if verbose else logging.INFO,
                             secrets=collect_secrets(config))
    try:
        sys.exit(asyncio.run(run_agent(config, once=once, redactor=logs.redactor)))
    except PermissionError as e:  # no ICMP socket allowed, spool not writable: say the fix
        echo(f"linkwatch: {e}", err=True)
        sys.exit(1)


@click.group("config")
def config_group() -> None:
    """Validate configuration files.

    \b
    Examples:
      linkwatch config check -c /etc/linkwatch/config.yaml
      linkwatch config check -c docs/examples/district.yaml
    """


@config_group.command("check")
@config_option
def config_check(config_path: Path | None) -> None:
    """Check a config file; print every problem with file, line, key and a fix.

    Exit status 0 when the config is valid, 2 otherwise.

    \b
    Example:
      linkwatch config check -c docs/examples/district.yaml
    """
    config = load(config_path)
    counts = ", ".join(f"{len(v)} {k}" for k, v in config.checks.written.items()) or "no checks"
    echo(f"{config.source}: OK ({len(config.sites)} sites, {counts}, "
               f"{len(config.outputs)} outputs)")
