"""`linkwatch config check` as a person runs it: the real command, its output and exit
status, on good, broken and missing configs."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.integration


def check(*args: str, cwd: Path, env: dict[str, str] | None = None
          ) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k != "LINKWATCH_CONFIG"}
    return subprocess.run([sys.executable, "-m", "linkwatch", "config", "check", *args],
                          capture_output=True, text=True, cwd=cwd, timeout=120, check=False,
                          env={**environ, **(env or {})})


def test_the_shipped_config_passes(tmp_path: Path) -> None:
    done = check("-c", str(REPO / "config.yaml"), cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout == (f"{REPO / 'config.yaml'}: OK (1 sites, 2 ping, 1 snmp, 1 host, "
                           "0 outputs)\n")


def test_a_secret_file_that_cannot_be_read_is_a_problem_with_its_line(tmp_path: Path) -> None:
    config = tmp_path / "agent.yaml"
    config.write_text(textwrap.dedent("""\
        agent: {name: a, site: lab}
        sites: [{name: lab}]
        checks:
          snmp:
            - {name: sw, address: 192.0.2.1, community_file: ./community}
        """))
    done = check("-c", str(config), cwd=tmp_path)
    assert done.returncode == 2
    assert f"{config}:5:" in done.stderr and "community_file" in done.stderr
    assert str(tmp_path / "community") in done.stderr
    (tmp_path / "community").write_text("s3cret\n")
    fixed = check("-c", str(config), cwd=tmp_path)
    assert fixed.returncode == 0 and "s3cret" not in fixed.stdout + fixed.stderr


def test_every_problem_is_listed_with_file_line_key_and_fix(tmp_path: Path) -> None:
    config = tmp_path / "agent.yaml"
    config.write_text(textwrap.dedent("""\
        agent:
          name: a
          site: lab
        sites:
          - {name: lab}
        checks:
          ping:
            - {name: x, address: 127.0.0.1, interval: soon}
            - {name: y, address: 127.0.0.1, count: 0}
        """))
    done = check("-c", str(config), cwd=tmp_path)
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert lines[0].startswith(f"{config}:8:") and "checks.ping[0].interval" in lines[0]
    assert "'soon'" in lines[0] and lines[1].strip().startswith("hint:")
    assert any(line.startswith(f"{config}:9:") and "checks.ping[1].count" in line
               for line in lines)
    assert lines[-1] == f"2 problems in {config}"


def test_a_missing_config_names_the_path_and_where_else_it_looks(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    done = check("-c", str(missing), cwd=tmp_path)
    assert done.returncode == 2
    assert f"{missing}: the config given with -c does not exist" in done.stderr
    assert "/etc/linkwatch/config.yaml" in done.stderr


def test_without_c_the_config_is_found_by_the_documented_order(tmp_path: Path) -> None:
    named = tmp_path / "named.yaml"
    named.write_text((REPO / "config.yaml").read_text())
    by_variable = check(cwd=tmp_path, env={"LINKWATCH_CONFIG": str(named)})
    assert by_variable.returncode == 0 and by_variable.stdout.startswith(f"{named}: OK")
    (tmp_path / "config.yaml").write_text((REPO / "config.yaml").read_text())
    in_directory = check(cwd=tmp_path)
    assert in_directory.returncode == 0
    assert in_directory.stdout.startswith(f"{tmp_path / 'config.yaml'}: OK")
