"""The tables of the docs held to the code they describe, both ways: a row deleted (or one
the code no longer has) fails. The config-key tables of configuration.md and the metrics
tables (data-model.md, the collectors' READMEs) are held by their own tests beside the
code; measured figures (the security scores of service.md, the ping benchmark) are not
held to code."""

from __future__ import annotations

import re

import click

from linkwatch.agent.cli import main
from tests.docs.markdown import REPO, table

DOCS = REPO / "docs"


def _options(command: click.Command) -> set[str]:
    return {o for p in command.params if isinstance(p, click.Option) for o in p.opts
            if o.startswith("--")} - {"--help"}


def _named(cell: str) -> set[str]:
    """The `--options` a table cell names."""
    return set(re.findall(r"(--[a-z][a-z-]*)", cell))


def test_cli_verbs_table_lists_every_query_verb():
    rows = table(DOCS / "cli.md", "verb")
    listed = {re.sub(r"`linkwatch (\w+)`", r"\1", r[0]) for r in rows}
    verbs = {name for name, c in main.commands.items() if "--local" in _options(c)
             and name != "report"}
    assert listed == verbs


def test_cli_options_table_lists_every_option_of_the_query_verbs():
    rows = table(DOCS / "cli.md", "option")
    documented = set().union(*(_named(r[0]) for r in rows))
    verbs = [c for name, c in main.commands.items() if "--local" in _options(c)
             and name != "report"]
    in_code = set().union(*(_options(c) for c in verbs))
    assert documented == in_code
    assert all(_named(r[0]) for r in rows)


def test_cli_exit_status_table_holds_the_exit_codes():
    from linkwatch.agent.cli import options

    rows = table(DOCS / "cli.md", "status")
    assert [int(r[0]) for r in rows] == sorted(
        {options.EXIT_OK, options.EXIT_NO_DATA, options.EXIT_USAGE, options.EXIT_UNREACHABLE})


def test_report_options_table_lists_every_option_of_report():
    rows = table(DOCS / "report.md", "option")
    documented = set().union(*(_named(r[0]) for r in rows)) | {
        "--config" for r in rows if r[0].startswith("`-c")} | {
        "--file" for r in rows if r[0].startswith("`-o")}
    assert documented == _options(main.commands["report"])


def test_report_verdicts_table_holds_every_verdict():
    rows = {r[0]: r for r in table(DOCS / "report.md", "verdict")}
    source = (REPO / "agent" / "report" / "verdicts.py").read_text()
    in_code = set(re.findall(r'Verdict\("\w+", [\w ]+, "(\w+)"', source))
    in_code |= set(re.findall(r'\("(\w+_high)", ', source))
    shown = {"availability short": {"availability_gap"}, "coverage low": {"coverage_low"},
             "uplink full": {"uplink_full"}, "uplink busy": {"uplink_busy"},
             "capacity short": {"capacity_short"},
             "high latency / loss / jitter": {"rtt_high", "loss_high", "jitter_high"},
             "power: a larger battery or solar": {"power_remedy"},
             "power: the UPS held": {"power_held"},
             "radio: realign or a larger antenna": {"radio_remedy"},
             "link: the provider's line": {"link_remedy"}}
    assert set(rows) == set(shown)
    assert set().union(*shown.values()) == in_code - {"ok", "no_data"}


def test_service_table_explains_every_setting_of_the_unit():
    rows = table(DOCS / "service.md", "setting")
    unit = (REPO / "systemd" / "linkwatch-agent.service").read_text()
    settings = {line.split("=", 1)[0] for line in unit.splitlines()
                if "=" in line and not line.startswith(("#", "[", "Description",
                                                        "Documentation", "After", "Wants",
                                                        "WantedBy", "ExecStart"))}
    explained: set[str] = set()
    for row in rows:
        names = set(re.findall(r"`(?:no )?([A-Z][A-Za-z]+)=", row[0]))
        names |= set(re.findall(r"`([A-Z][A-Za-z]+)(?:/[A-Za-z]+)*=", row[0]))
        for group in re.findall(r"`([A-Z][A-Za-z]+(?:/[A-Za-z]+)+)=", row[0]):
            head, *tails = group.split("/")       # ProtectKernelTunables/Modules/Logs
            base = head[:max(i for i, c in enumerate(head) if c.isupper())]
            names |= {head, *(base + t for t in tails)}
        for plain in re.findall(r"`([A-Z][A-Za-z]+)`", row[0]):
            names.add(plain)
        assert names, row[0]
        explained |= names
    unexplained = settings - explained
    assert unexplained == set(), "settings of the unit with no row in docs/service.md"
    absent = {n for row in rows if not row[0].startswith("no ")
              for n in re.findall(r"`([A-Z][A-Za-z]+)=", row[0])} - settings
    assert absent == set(), "rows of docs/service.md for settings the unit does not have"


def test_units_table_examples_are_read_as_documented():
    from linkwatch.agent.config.units import parse_duration, parse_rate, parse_size

    parse = {"duration": parse_duration, "size": parse_size, "rate": parse_rate}
    rows = table(DOCS / "configuration.md", "kind")
    assert [r[0] for r in rows] == list(parse)
    for kind, units, examples, _notes in rows:
        for example in re.findall(r"`([^`]+)`", examples):
            parse[kind](example)
        for unit in re.findall(r"`([^`]+)`", units.split("(")[0]):
            parse[kind](f"2{unit}")


def test_path_privileges_table_names_each_tool():
    rows = table(DOCS / "path.md", "what")
    assert [r[0] for r in rows] == ["path probes in the agent", "`linkwatch trace`",
                                    "`linkwatch discover`"]
    assert {"trace", "discover"} <= set(main.commands)


def test_path_probe_table_holds_the_three_states():
    from linkwatch.collector.path.probe import ping_state

    rows = table(REPO / "collector" / "path" / "README.md", "ping cycle")
    states = {r[1]: r[0] for r in rows}
    assert set(states) == {"down", "lossy", "up"}
    assert ping_state({"up": 0}, 50) == "down"
    assert ping_state({"up": 1, "loss_pct": 50.0}, 50) == "lossy"
    assert ping_state({"up": 1, "loss_pct": 49.0}, 50) == "up"


def test_ping_spacing_table_is_what_the_schedule_computes():
    from linkwatch.collector.ping.check import PingCheck
    from linkwatch.collector.ping.schedule import EchoSchedule
    from linkwatch.collector.units import Seconds

    rows = table(REPO / "collector" / "ping" / "README.md", "check")
    assert rows
    for check, spacing, wait, ends in rows:
        keys = dict(re.findall(r"(\w+): (\w+)", check))
        seconds = {k: float(v.rstrip("s")) for k, v in keys.items() if k != "count"}
        schedule = EchoSchedule.for_check(PingCheck(
            name="t", address="192.0.2.1", interval=Seconds(seconds["interval"]),
            count=int(keys["count"]),
            timeout=Seconds(seconds["timeout"]) if "timeout" in seconds else None))
        assert f"{schedule.spacing_s:g} s" == spacing
        assert f"{schedule.wait_s:g} s" == wait
        assert f"{schedule.duration_s:g} s" == ends
