"""Files linkwatch creates holding data are its user's alone (0600, directories 0700),
whatever the umask of the person who ran the command."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from linkwatch.agent.cli import main
from linkwatch.agent.spool import Spool
from linkwatch.collector.sample import Sample


@pytest.fixture
def loose_umask():
    old = os.umask(0o022)                 # an administrator's usual umask
    yield
    os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_spool_its_key_and_the_export_of_it_are_private(tmp_path: Path, loose_umask):
    config = tmp_path / "config.yaml"
    config.write_text("""\
agent: {name: island-agent, site: ngoc-vung, spool: {path: ./state/spool.db}}
outputs: [{type: influxdb, url: "http://127.0.0.1:9", database: x, version: "1"}]
""")
    runner = CliRunner()
    # a reading command makes no spool; the agent's own opening does, its owner's alone
    assert runner.invoke(main, ["spool", "status", "-c", str(config)]).exit_code == 1
    assert not (tmp_path / "state").exists()
    spool_path = tmp_path / "state" / "spool.db"
    spool = Spool.open(spool_path, max_size=16 * 2**20, history_s=86400,
                       outputs=["influxdb:x"])
    spool.append([Sample("ping", {"agent": "island-agent", "site": "ngoc-vung",
                                  "target": "gw"}, {"up": 1}, 1_790_000_000 * 10**9)])
    assert _mode(tmp_path / "state") == 0o700
    for name in ("spool.db", "spool.db-wal", "spool.db-shm"):
        assert _mode(tmp_path / "state" / name) == 0o600, name
    spool.close()

    keys = runner.invoke(main, ["keys", "-c", str(config)])
    assert keys.exit_code == 0, keys.output
    assert _mode(tmp_path / "state" / "signing.key") == 0o600
    out = tmp_path / "out.tar"
    done = runner.invoke(main, ["spool", "export", "-c", str(config), "-o", str(out)])
    assert done.exit_code == 0, done.output
    assert _mode(out) == 0o600
