"""A probe kind is one folder and one registration: a kind that linkwatch has never heard of,
registered by another package under the `linkwatch.probes` entry points, is read by
`config check`, scheduled by `agent run` and shown by `status`, with no other change."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

PLUGIN = '''
"""A probe kind outside linkwatch: every `echo` check answers up=1."""

from dataclasses import dataclass

from linkwatch.collector import ProbeKind, StateRule
from linkwatch.collector.units import Seconds


@dataclass(frozen=True)
class EchoCheck:
    name: str
    address: str
    interval: Seconds = Seconds(60)
    timeout: Seconds | None = None
    site: str | None = None


PROBE = ProbeKind(kind="echo", check=EchoCheck, module="lw_echo_probe.probe",
                  title="echo target", measurements=("echo",),
                  state=StateRule("echo", "target"))
'''

PROBE = '''
from linkwatch.collector import Sample


async def open_probes(checks, ctx):
    def collect_for(check):
        async def collect():
            return [Sample("echo", {"target": check.name, "address": check.address},
                           {"up": 1}, ctx.time_ns())]
        return collect
    return {check.name: collect_for(check) for check in checks}
'''


@pytest.fixture
def plugin(tmp_path: Path) -> dict[str, str]:
    """The environment of a process that has the plugin installed (on its sys.path, with
    the dist-info that registers its entry point)."""
    site = tmp_path / "site"
    package = site / "lw_echo_probe"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(PLUGIN, encoding="utf-8")
    (package / "probe.py").write_text(PROBE, encoding="utf-8")
    info = site / "lw_echo_probe-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: lw-echo-probe\n"
                                   "Version: 1.0\n", encoding="utf-8")
    (info / "entry_points.txt").write_text("[linkwatch.probes]\necho = lw_echo_probe:PROBE\n",
                                           encoding="utf-8")
    return {**os.environ, "PYTHONPATH": str(site)}


def _config(tmp_path: Path, checks: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(textwrap.dedent(f"""\
        agent:
          name: a
          site: lan
          spool: {{path: {tmp_path / 'spool.db'}, max_size: 16MiB, history: 1d}}
        sites:
          - {{name: lan}}
        checks:
        """) + textwrap.indent(textwrap.dedent(checks), "  "), encoding="utf-8")
    return path


def _linkwatch(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "linkwatch", *args], env=env,
                          capture_output=True, text=True, timeout=120, check=False)


def test_a_registered_kind_is_checked_scheduled_and_shown(tmp_path, plugin):
    config = _config(tmp_path, """\
        echo:
          - {name: far-echo, address: 192.0.2.7, interval: 30s}
        """)
    checked = _linkwatch("config", "check", "-c", str(config), env=plugin)
    assert checked.returncode == 0, checked.stderr
    assert "1 echo" in checked.stdout

    ran = _linkwatch("agent", "run", "--once", "-c", str(config), env=plugin)
    assert ran.returncode == 0, ran.stderr

    shown = _linkwatch("status", "--local", "-c", str(config), "--format", "json", env=plugin)
    assert shown.returncode == 0, shown.stderr
    [row] = json.loads(shown.stdout)
    assert (row["kind"], row["target"], row["address"], row["state"], row["site"]) == (
        "echo", "far-echo", "192.0.2.7", "UP", "lan")


def test_a_kind_nobody_registered_is_refused_with_the_known_ones(tmp_path, plugin):
    config = _config(tmp_path, """\
        echoo:
          - {name: far-echo, address: 192.0.2.7}
        """)
    with_plugin = _linkwatch("config", "check", "-c", str(config), env=plugin)
    assert with_plugin.returncode == 2
    assert "checks.echoo: unknown key 'echoo'" in with_plugin.stderr
    assert "did you mean 'echo'?" in with_plugin.stderr

    without = {k: v for k, v in plugin.items() if k != "PYTHONPATH"}
    config.write_text(config.read_text(encoding="utf-8").replace("echoo", "echo"),
                      encoding="utf-8")
    refused = _linkwatch("config", "check", "-c", str(config), env=without)
    assert refused.returncode == 2
    assert "unknown key 'echo'" in refused.stderr and "ping, snmp, host" in refused.stderr
