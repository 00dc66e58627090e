"""The `linkwatch` command: a thin click layer that parses, calls and prints.

Each verb lives in a module of this package; everything heavy is imported inside the
command that needs it, so `linkwatch --help` answers at once.
"""

from __future__ import annotations

import click

from linkwatch.agent.cli import alerts, carry, install, path, query, report, run, spool


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="linkwatch", prog_name="linkwatch")
def main() -> None:
    """linkwatch: watch the district's links and keep every measurement until it is delivered.

    \b
    Start here:
      linkwatch config check -c config.yaml     validate a config (every error, with its line)
      linkwatch agent run -c config.yaml        run the agent (Ctrl-C or SIGTERM stops it)
      linkwatch agent run --once                one cycle of every check, then exit
      linkwatch status --local                  every target now (from this agent's spool)
      linkwatch uptime --since 30d              availability, coverage, outages, MTTR, MTBF
      linkwatch bandwidth --site quan-lan       mean, p95, max and utilisation per link
      linkwatch outages --since 30d             each outage, its cause: power, radio or link
      linkwatch radio --site quan-lan           radio signal, noise, CCQ, minutes degraded
      linkwatch power --since 30d               time on battery, power events per site
      linkwatch report --period 2026-10 -o r.html   the planners' monthly report
      linkwatch alerts                          what fires now (alerts test: try the channels)
      linkwatch spool status                    what is queued, dropped or dead-lettered

    Every command has --help with examples.
    """


# Each module adds its verbs here (one line each).
main.add_command(run.agent)
run.agent.add_command(install.install)
run.agent.add_command(install.uninstall)
main.add_command(run.config_group)
main.add_command(spool.spool)
main.add_command(query.status)
main.add_command(query.uptime)
main.add_command(query.outages)
main.add_command(query.bandwidth)
main.add_command(query.latency)
main.add_command(query.top)
main.add_command(query.radio)
main.add_command(query.power)
spool.spool.add_command(carry.export_command)
spool.spool.add_command(carry.import_command)
main.add_command(alerts.alerts)
main.add_command(carry.keys)
main.add_command(report.report)
main.add_command(report.demo)
main.add_command(path.trace)
main.add_command(path.discover)
