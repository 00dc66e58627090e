"""`linkwatch demo seed` writes a made-up month into a database only when told to."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from linkwatch.agent.cli import main


def test_demo_seed_into_the_real_database_needs_yes_and_writes_nothing_without_it(
        tmp_path: Path):
    config = tmp_path / "config.yaml"
    # a closed port: an attempted write would end in exit status 3, not 2
    config.write_text("""\
agent: {name: district-agent, site: lan, spool: {path: ./spool.db}}
outputs: [{type: influxdb, url: "http://127.0.0.1:9", database: production, version: "1"}]
sites: [{name: lan}]
checks:
  ping:
    - {name: gw, address: 192.0.2.1, interval: 60s}
""")
    result = CliRunner().invoke(main, ["demo", "seed", "-c", str(config), "--month",
                                       "2026-10", "--real"])
    assert result.exit_code == 2, result.output
    assert "nothing written" in result.stderr and "--yes" in result.stderr
    assert "http://127.0.0.1:9" in result.stderr
    tried = CliRunner().invoke(main, ["demo", "seed", "-c", str(config), "--month",
                                      "2026-10", "--real", "--yes"])
    assert tried.exit_code == 3                 # with --yes it goes ahead (and finds no server)
