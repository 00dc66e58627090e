"""Carrying points out by hand: `linkwatch spool export`, then `linkwatch spool import`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from tests.faults.harness import (
    AGENT_NAME,
    SITE,
    config_of,
    drain,
    spool_view,
    wait_for,
    write_config,
)
from tests.faults.ledger import Row, committed, downstream
from tests.faults.proxy import FaultProxy
from tests.servers.influxdb import InfluxServer

pytestmark = [pytest.mark.faults]


def linkwatch(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "linkwatch", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=300,
                          env=dict(os.environ))


def public_key(config_path: Path, cwd: Path) -> str:
    """`linkwatch keys` on the island: creates its signing key, prints the public half."""
    done = linkwatch("keys", "-c", str(config_path), cwd=cwd)
    assert done.returncode == 0, done.stderr
    return next(line.rsplit(" ", 1)[1] for line in done.stdout.splitlines()
                if line.startswith("public key of agent"))


def trusting(config_path: Path, public: str) -> Path:
    """The district's config, listing the island agent's public key."""
    with config_path.open("a") as f:
        f.write(f"carry:\n  trusted:\n    - {{agent: {AGENT_NAME}, public_key: \"{public}\", "
                f"sites: [{SITE}]}}\n")
    return config_path


def test_an_export_imported_elsewhere_equals_direct_delivery_and_importing_twice_changes_nothing(
    tmp_path: Path, influxdb: InfluxServer, record_row, agents
) -> None:
    direct_db, imported_db = "carry_direct", "carry_imported"
    for db in (direct_db, imported_db):
        influxdb.create_database(db)
    proxy = FaultProxy(influxdb.port)
    proxy.down = True                                  # a commune with no Internet
    try:
        config_path = write_config(tmp_path, url=proxy.url, db=direct_db)
        config = config_of(config_path)
        agent = agents(config_path).start()
        agent.wait_started()
        wait_for(lambda: spool_view(config).collected > 300, 60, "points collected offline")
        assert agent.stop() == 0
        queued = spool_view(config).queued

        export = tmp_path / "ngoc-vung.tar"
        public = public_key(config_path, tmp_path)
        done = linkwatch("spool", "export", "-c", str(config_path), "-o", str(export),
                         cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        assert spool_view(config).queued == queued, "export without --mark-sent marked sent"
        with tarfile.open(export) as tar:
            manifest = json.load(tar.extractfile("manifest.json"))
        assert manifest["points"] == queued and manifest["agent"] == "island-agent"
        assert manifest["site"] == "ngoc-vung" and len(manifest["sha256"]) == 64
        assert export.stat().st_mode & 0o777 == 0o600

        # Direct delivery of the same queue, for comparison, once the link is back.
        proxy.down = False
        drain(config)
    finally:
        proxy.close()

    import_config = trusting(write_config(
        tmp_path / "elsewhere" if (tmp_path / "elsewhere").mkdir() is None else tmp_path,
        url=influxdb.url, db=imported_db), public)
    done = linkwatch("spool", "import", str(export), "-c", str(import_config), cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{queued} of {queued} points written" in done.stdout
    direct = downstream(influxdb, direct_db)
    imported = downstream(influxdb, imported_db)
    assert len(direct) == queued and imported == direct

    again = linkwatch("spool", "import", str(export), "-c", str(import_config), cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert downstream(influxdb, imported_db) == imported

    held = committed(config.agent.spool.path)
    lost = sum(1 for k in held if k not in imported)
    differ = sum(1 for k in held if k in imported and imported[k] != held[k])
    record_row(Row("carry-out export → import", spool_view(config).collected, len(imported),
                   lost, differ, 0, [f"imported twice; {queued} points, same values as "
                                     "direct delivery"]))
    assert lost == 0 and differ == 0


def test_a_damaged_export_is_refused_and_nothing_is_written(
    tmp_path: Path, influxdb: InfluxServer, influx_db: str, agents
) -> None:
    config_path = write_config(tmp_path, url="http://127.0.0.1:9", db=influx_db, pings=2)
    config = config_of(config_path)
    agent = agents(config_path).start()
    agent.wait_started()
    wait_for(lambda: spool_view(config).collected > 20, 60, "points collected")
    assert agent.stop() == 0
    export = tmp_path / "out.tar"
    public = public_key(config_path, tmp_path)
    done = linkwatch("spool", "export", "-c", str(config_path), "--mark-sent", "-o",
                     str(export), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert spool_view(config).queued == 0              # --mark-sent took them out
    data = bytearray(export.read_bytes())
    with tarfile.open(export) as tar:
        start = tar.getmember("points.lp.gz").offset_data
    data[start + 600] ^= 0xFF                          # one byte inside points.lp.gz
    damaged = tmp_path / "damaged.tar"
    damaged.write_bytes(bytes(data))
    target = trusting(write_config(tmp_path / "t" if (tmp_path / "t").mkdir() is None
                                   else tmp_path, url=influxdb.url, db=influx_db, pings=2),
                      public)
    done = linkwatch("spool", "import", str(damaged), "-c", str(target), cwd=tmp_path)
    assert done.returncode == 2
    assert "does not match the SHA-256 in its manifest" in done.stderr
    assert influxdb.query("SHOW MEASUREMENTS", db=influx_db)[0].get("series") is None
