"""Every `linkwatch` command the documentation shows, tried as a new user would type it.

Each one is parsed by the real command line (its verb, every option and every value: a
renamed option or a bad value fails here), and each one that can run on these machines runs,
in a sandbox: a home directory of its own, the demo month of docs/examples/district.yaml
written by the README's own command into the demo spool and, by report.md's, into a real
InfluxDB (the session's influxd); `/etc/linkwatch/config.yaml` stands for a copy of the
shipped config. The few that cannot run here say why, and where else they run.

A new example in the docs fails `test_every_documented_command_is_classified` until it is
given a line below: an example must never rot silently again.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import click
import pytest

from linkwatch.agent.cli import main
from tests.docs.markdown import REPO, Command, credentials, every_command

pytestmark = pytest.mark.integration

DISTRICT = REPO / "docs" / "examples" / "district.yaml"

# How a documented command is checked, beyond being parsed: it runs (with the exit codes
# it may end with: 1 is "nothing in that period", documented, when a relative period such
# as --since 30d holds no demo data), or it is only parsed, for the reason given.
RUN_OK = (0,)
RUN_ANSWERS = (0, 1)


@dataclass(frozen=True)
class Only:
    """Parsed only; `reason` says why it cannot run here and what runs it instead."""

    reason: str


INSTALL = Only("installs into / as root: tests/integration/test_install.py runs it into a "
               "temporary root, and tests/system boots it under systemd")
FOREVER = Only("runs until stopped: tests/integration/test_service.py and tests/faults run "
               "the agent and stop it with SIGTERM")
ELSEWHERE = Only("sends to a documentation address; tests only send inside namespaces they "
                 "create: tests/integration/test_path_netns.py and test_discover_netns.py")
CARRY = Only("needs a spool with a queue for an unreachable output and a file carried out: "
             "tests/faults/test_carry.py exports and imports for real")
CRON = Only("a crontab line: the shell's $(date …) is the month")
VICTORIA = Only("reads or writes a victoria-metrics of the reader's own: "
                "tests/integration/test_report.py seeds one and builds the report from it "
                "with --output, equal to InfluxDB's")

CHECKS: dict[str, tuple[int, ...] | Only] = {
    "linkwatch agent run --once": RUN_OK,
    "linkwatch status --local": RUN_OK,
    "linkwatch config check -c /etc/linkwatch/config.yaml": RUN_OK,
    "linkwatch agent run -c /etc/linkwatch/config.yaml": FOREVER,
    "linkwatch status": RUN_OK,
    "linkwatch uptime --since 30d --site quan-lan": RUN_ANSWERS,
    "linkwatch outages --since 2026-10-01 --until 2026-11-01": RUN_OK,
    "linkwatch bandwidth --since 7d --format csv": RUN_ANSWERS,
    "linkwatch latency --local": RUN_ANSWERS,
    "linkwatch report --period 2026-10 --lang vi -o bao-cao.html": RUN_OK,
    "linkwatch spool status": RUN_OK,
    "linkwatch spool export -o commune.tar": CARRY,
    "linkwatch spool import commune.tar": CARRY,
    "linkwatch keys": RUN_OK,
    "linkwatch keys -c /etc/linkwatch/config.yaml": RUN_OK,
    "linkwatch trace 192.0.2.1": ELSEWHERE,
    "linkwatch demo seed -c docs/examples/district.yaml --local --month 2026-10": RUN_OK,
    "linkwatch report --demo --local -c docs/examples/district.yaml --period 2026-10 "
    "-o demo.html": RUN_OK,
    "linkwatch status --local --site quan-lan": RUN_OK,
    "linkwatch uptime --since 2026-10-01 --until 2026-11-01 --format csv": RUN_OK,
    "linkwatch outages --since 30d --site minh-chau --min-cycles 5": RUN_ANSWERS,
    "linkwatch bandwidth --since 30d --device cai-rong-router": RUN_ANSWERS,
    "linkwatch latency --since 7d --target quan-lan-router --local": RUN_ANSWERS,
    "linkwatch top --since 30d --limit 5 --format json": RUN_ANSWERS,
    "linkwatch uptime --demo --local -c docs/examples/district.yaml --since 2026-10-01 "
    "--until 2026-11-01": RUN_OK,
    # 1 where this machine's python3 lives under /root: the install says to add --python
    # (operations.md); tests/integration/test_install.py installs for real
    "linkwatch agent install --dry-run": RUN_ANSWERS,
    "linkwatch agent install": INSTALL,
    "linkwatch agent uninstall": INSTALL,
    "linkwatch agent uninstall --purge": INSTALL,
    "linkwatch spool export -c /etc/linkwatch/config.yaml -o /tmp/ngoc-vung.tar": CARRY,
    "linkwatch spool export -c /etc/linkwatch/config.yaml -o /media/usb/ngoc-vung.tar": CARRY,
    "linkwatch spool import /media/usb/ngoc-vung.tar -c /etc/linkwatch/config.yaml": CARRY,
    "linkwatch agent run --once -c /etc/linkwatch/config.yaml": RUN_OK,
    "linkwatch status --local -c /etc/linkwatch/config.yaml": RUN_OK,
    "linkwatch trace 10.77.3.2": ELSEWHERE,
    "linkwatch trace ::1": RUN_OK,
    "linkwatch discover --subnet 10.77.9.0/24 --snmp-community-file /root/communities":
        ELSEWHERE,
    "linkwatch report --period 2026-10 -o bao-cao-2026-10.html": RUN_OK,
    "linkwatch report --period 2026-10 --lang en --format pdf -o oct.pdf": RUN_OK,
    "linkwatch report --since 2026-10-01 --until 2026-10-16 --site quan-lan -o q.html": RUN_OK,
    "linkwatch report --period 2026-10 --format csv -o oct.zip --local": RUN_OK,
    "linkwatch report --period 2026-10 --output province -o oct.html": RUN_OK,
    "linkwatch demo seed -c district.yaml --month 2026-10": RUN_OK,
    "linkwatch report --period 2026-10 --output victoriametrics -o oct.html": VICTORIA,
    "linkwatch demo seed -c demo.yaml --output victoriametrics --real --yes": VICTORIA,
    # the demo month has no radio or UPS points: these answer "nothing in the period"
    "linkwatch radio --site quan-lan": RUN_ANSWERS,
    "linkwatch power --since 30d": RUN_ANSWERS,
    "linkwatch radio --since 30d --site quan-lan": RUN_ANSWERS,
    "linkwatch power --since 2026-10-01 --until 2026-11-01 --local": RUN_ANSWERS,
    "linkwatch alerts": RUN_ANSWERS,
    "linkwatch alerts --local": RUN_ANSWERS,
    "linkwatch alerts --since 7d": RUN_ANSWERS,
    "linkwatch alerts test": Only("sends over every configured channel (mail, Zalo, …) to "
                                  "hosts outside: tests/integration/test_alert_channels.py "
                                  "sends to loopback servers"),
}
CRON_LINE = re.compile(r"^linkwatch report --period \$\(date ")


def _policy(command: Command) -> tuple[int, ...] | Only | None:
    """How the command is checked; None for one not classified yet (a failure below)."""
    if CRON_LINE.match(command.text):
        return CRON
    return CHECKS.get(command.text)


def test_every_documented_command_is_classified():
    missing = sorted({f"{c.where}: {c.text}" for c in every_command()
                      if not CRON_LINE.match(c.text) and c.text not in CHECKS})
    assert missing == [], "give these commands a line in CHECKS (run, or why not)"
    stale = set(CHECKS) - {c.text for c in every_command()}
    assert stale == set(), "these lines of CHECKS are no longer in the docs"


@pytest.mark.parametrize("command", every_command(), ids=lambda c: f"{c.where} {c.text}")
def test_every_documented_command_parses(command: Command, tmp_path):
    """Its verb exists and every option and value is one the command accepts."""
    args = list(command.args)
    if _policy(command) is CRON:            # the shell fills in last month
        args = ["report", "--period", "2026-10", *args[args.index("-o"):]]
    for i, arg in enumerate(args):
        if arg.endswith(".tar") and command.args[:2] == ("spool", "import"):
            args[i] = str(tmp_path / Path(arg).name)      # a file the user carried in
            Path(args[i]).write_bytes(b"")
    group: click.Command = main
    context = main.make_context("linkwatch", [], resilient_parsing=True)
    name = "linkwatch"
    # down the groups to the command; a group that runs by itself (`alerts`) takes the rest
    while isinstance(group, click.Group) and args and not args[0].startswith("-"):
        name, *args = args
        sub = group.get_command(context, name)
        assert sub is not None, f"{command.where}: no command {name!r}"
        group, context = sub, click.Context(sub, info_name=name, parent=context)
    group.make_context(name, args, parent=context.parent)


# --------------------------------------------------------------------------- running


@dataclass
class Sandbox:
    """Where the documented commands run: a home, configs, the demo month."""

    root: Path
    env: dict[str, str]
    paths: dict[str, Path]         # a path the docs name → its stand-in here
    query: Path                    # the district server's config, the demo as its data
    done: dict[str, subprocess.CompletedProcess]   # commands the sandbox ran to set up

    def run(self, args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "linkwatch", *args],
                              capture_output=True, text=True, timeout=900, check=False,
                              cwd=self.root, env=env)


def _district_on(influx_url: str, database: str, spool: Path) -> str:
    """docs/examples/district.yaml with its two outputs on the test's influxd (both v1)."""
    text = DISTRICT.read_text(encoding="utf-8")
    for url in ("https://metrics.quangninh.example:8086", "http://influx.vandon.example:8086"):
        text = text.replace(f"url: {url}", f"url: {influx_url}")
    text = text.replace('version: "2"\n', 'version: "1"\n')
    text = text.replace("database: linkwatch", f"database: {database}")
    text = text.replace("    bucket: linkwatch\n", f"    database: {database}\n")
    return text.replace("path: /var/lib/linkwatch/spool.db", f"path: {spool}")


DEMO_SEEDS = ("linkwatch demo seed -c docs/examples/district.yaml --local --month 2026-10",
              "linkwatch demo seed -c district.yaml --month 2026-10")


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory, influxdb) -> Iterator[Sandbox]:
    from unittest import mock

    from linkwatch.agent.config import load_config
    from linkwatch.agent.operations.demo import demo_spool_path

    root = tmp_path_factory.mktemp("docs")
    (root / "home").mkdir()
    etc = root / "etc-linkwatch"
    etc.mkdir()
    shutil.copy(REPO / "config.yaml", root / "config.yaml")    # ./config.yaml of the README
    (etc / "config.yaml").write_text((REPO / "config.yaml").read_text().replace(
        "path: ./var/spool.db", f"path: {root / 'etc-spool.db'}"))
    if not influxdb.running:
        influxdb.start()
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(root / "home"),
           "XDG_CACHE_HOME": str(root / "home" / ".cache"), "LANG": "C.UTF-8",
           "PYTHONDONTWRITEBYTECODE": "1", "CREDENTIALS_DIRECTORY": str(credentials(root)),
           "LINKWATCH_INFLUX_TOKEN": "not-a-real-token"}
    district = root / "district.yaml"
    district.write_text(_district_on(influxdb.url, "docs", root / "district-spool.db"))
    with mock.patch.dict(os.environ, {"XDG_CACHE_HOME": env["XDG_CACHE_HOME"]}):
        demo_local = demo_spool_path(load_config(DISTRICT, secrets=False))
    query = root / "query.yaml"
    query.write_text(_district_on(influxdb.url, "docs_demo", demo_local))
    box = Sandbox(root, env, {"/etc/linkwatch/config.yaml": etc / "config.yaml",
                              "district.yaml": district,
                              "docs/examples/district.yaml": DISTRICT}, query, {})
    # the demo month the other commands read, written by the docs' own two commands
    for text in DEMO_SEEDS:
        command = next(c for c in every_command() if c.text == text)
        box.done[text] = box.run(*_in(box, command))
    yield box
    influxdb.drop_database("docs_demo")


def _in(sandbox: Sandbox, command: Command) -> tuple[list[str], dict[str, str]]:
    """The command's arguments with this machine's stand-ins for the paths it names, and its
    environment: the README's quick start finds ./config.yaml; the other verbs without -c
    run as on the district server, whose month of data is the demo month."""
    args = [str(sandbox.paths.get(a, a)) for a in command.args]
    args = [str(sandbox.root / Path(a).name) if a.startswith(("/tmp/", "/media/")) else a
            for a in args]
    env = dict(sandbox.env)
    quick_start = command.where.startswith("README.md:8")
    if "-c" not in args and not quick_start and command.args[0] != "agent":
        env["LINKWATCH_CONFIG"] = str(sandbox.query)
    return args, env


def _runnable() -> list[Command]:
    seen, found = set(), []
    for c in every_command():
        if isinstance(_policy(c), tuple) and c.text not in seen:
            seen.add(c.text)
            found.append(c)
    return found


@pytest.mark.parametrize("command", _runnable(), ids=lambda c: f"{c.where} {c.text}")
def test_every_documented_command_that_can_run_here_runs(command: Command, sandbox):
    expected = _policy(command)
    assert isinstance(expected, tuple)
    if command.text == "linkwatch status --local" and not (sandbox.root / "var").exists():
        sandbox.run(*_in(sandbox, next(c for c in every_command()   # the README's first
                                       if c.text == "linkwatch agent run --once")))
    done = sandbox.done.get(command.text) or sandbox.run(*_in(sandbox, command))
    assert done.returncode in expected, (
        f"{command.where}: `{command.text}` ended with {done.returncode}\n"
        f"{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    assert "Traceback" not in done.stderr, done.stderr
