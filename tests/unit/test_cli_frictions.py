"""The small things a new user trips over: a typo in --site gets the right name back, one
meaning for --output and for -o, durations with units, examples in every group's help,
completion that needs no secrets, and a report that does not invent directories."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from linkwatch.agent.cli import main

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(textwrap.dedent(f"""\
        agent: {{name: a1, site: district-lan, spool: {{path: {tmp_path / 'spool.db'}}}}}
        outputs:
          - {{type: influxdb, url: "http://127.0.0.1:9", name: district,
             token_file: {tmp_path / 'no-such.token'}}}
        sites: [{{name: district-lan}}, {{name: quan-lan, parent: district-lan}}]
        checks:
          ping:
            - {{name: quan-lan-router, address: 192.0.2.8, site: quan-lan}}
        """))
    return path


@pytest.mark.parametrize(("option", "typo", "meant"), [
    ("--site", "quan-lam", "quan-lan"), ("--target", "quan-lan-ruter", "quan-lan-router")])
def test_a_typo_in_site_or_target_gets_did_you_mean(config, option, typo, meant):
    for verb in ("status", "uptime", "latency"):
        done = CliRunner().invoke(main, [verb, "--local", "-c", str(config), option, typo])
        assert done.exit_code == 2, done.output
        assert f"did you mean {meant!r}?" in done.output


def test_a_report_for_an_unknown_site_names_the_closest(config, tmp_path):
    done = CliRunner().invoke(main, ["report", "--local", "-c", str(config), "--period",
                                     "2026-10", "--site", "quan-lam", "-o",
                                     str(tmp_path / "r.html")])
    assert done.exit_code == 2 and "did you mean 'quan-lan'?" in done.output


def _commands(group: click.Group, path: tuple[str, ...] = ()):
    for name, command in group.commands.items():
        yield (*path, name), command
        if isinstance(command, click.Group):
            yield from _commands(command, (*path, name))


def test_output_chooses_the_store_and_o_names_the_file_on_every_command():
    files, stores = [], []
    for path, command in _commands(main):
        for param in command.params:
            if "-o" in param.opts:
                files.append(path)
                assert param.opts == ["-o", "--file"], (path, param.opts)
            if "--output" in param.opts:
                stores.append(path)
                assert param.name == "output_name" and param.metavar == "NAME", path
    assert {("report",), ("spool", "export")} <= set(files)
    assert {("status",), ("uptime",), ("report",), ("spool", "export"), ("spool", "import"),
            ("demo", "seed")} <= set(stores)


def test_every_group_shows_examples_in_its_help():
    groups = [path for path, command in _commands(main) if isinstance(command, click.Group)]
    assert set(groups) >= {("agent",), ("config",), ("spool",), ("demo",)}
    for path in groups:
        done = CliRunner().invoke(main, [*path, "--help"])
        assert "Examples:" in done.output and f"linkwatch {path[0]} " in done.output, path


@pytest.mark.parametrize(("args", "bare"), [
    (["trace", "127.0.0.1", "--timeout"], "2"),
    (["spool", "import", "FILE", "--give-up-after"], "600"),
])
def test_timeouts_take_units_as_in_the_config(tmp_path, args, bare):
    export = tmp_path / "export.tar"
    export.write_bytes(b"")
    args = [str(export) if a == "FILE" else a for a in args]
    done = CliRunner().invoke(main, [*args, bare])
    assert done.exit_code == 2
    assert f"{bare!r} is not a duration" in done.output and f"{bare}s" in done.output


def test_report_does_not_create_missing_directories(config, tmp_path):
    target = tmp_path / "reports" / "2026" / "r.html"
    done = CliRunner().invoke(main, ["report", "--local", "-c", str(config), "--period",
                                     "2026-10", "-o", str(target)])
    assert done.exit_code == 2
    assert f"the directory {target.parent} does not exist" in done.output
    assert not (tmp_path / "reports").exists()


def test_completion_offers_names_without_reading_the_secrets(config):
    # the token file does not exist and $LINKWATCH_NO_SUCH is not set: a user who may
    # not read the secrets still gets the names
    config.write_text(config.read_text().replace(
        "token_file: " + str(config.parent / "no-such.token"), 'token: "${LINKWATCH_NO_SUCH}"'))
    env = {"PATH": os.environ.get("PATH", ""), "_LINKWATCH_COMPLETE": "bash_complete",
           "COMP_WORDS": f"linkwatch status -c {config} --site q", "COMP_CWORD": "5"}
    done = subprocess.run([sys.executable, "-c", "from linkwatch.agent.cli import main; "
                           "main(prog_name='linkwatch')"], capture_output=True, text=True,
                          env=env, cwd=REPO, check=False)
    assert "plain,quan-lan" in done.stdout.splitlines(), done.stdout + done.stderr
    env["COMP_WORDS"] = f"linkwatch uptime -c {config} --target quan"
    done = subprocess.run([sys.executable, "-c", "from linkwatch.agent.cli import main; "
                           "main(prog_name='linkwatch')"], capture_output=True, text=True,
                          env=env, cwd=REPO, check=False)
    assert "plain,quan-lan-router" in done.stdout.splitlines(), done.stdout + done.stderr
