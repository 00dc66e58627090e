"""The real agent process, end to end: config → probes → spool → InfluxDB.

Each test runs `linkwatch` as a subprocess on a config in a temporary directory, the way an
operator would, and reads the result back from the real server or the agent's own spool.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from linkwatch.agent.spool import Spool
from tests.faults.harness import wait_for
from tests.servers.influxdb import InfluxServer

REPO = Path(__file__).resolve().parents[2]
LINKWATCH = [sys.executable, "-m", "linkwatch"]

pytestmark = pytest.mark.integration


def linkwatch(*args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([*LINKWATCH, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=_env())


def _env() -> dict[str, str]:
    return dict(os.environ)


def write_config(tmp_path: Path, outputs: str, pings: int = 3) -> Path:
    targets = "\n".join(
        f"    - {{name: lo{i}, address: 127.0.0.{i}, interval: 1s, count: 2}}"
        for i in range(1, pings + 1)
    )
    path = tmp_path / "agent.yaml"
    path.write_text(textwrap.dedent("""\
        agent:
          name: e2e-agent
          site: district-lan
          spool: {path: ./spool.db, max_size: 64MiB, history: 1d}
        sites:
          - {name: district-lan}
        """) + outputs + "checks:\n  ping:\n" + targets + "\n  host: {interval: 2s}\n")
    return path


def influx_output(url: str, db: str) -> str:
    return f"outputs:\n  - {{type: influxdb, url: '{url}', database: {db}, version: '1'}}\n"


def collected(tmp_path: Path) -> int:
    """Points the agent has committed to its spool so far."""
    spool = Spool.open(tmp_path / "spool.db", max_size=64 * 2**20, history_s=86400,
                       outputs=None, check=False)
    try:
        return spool.stats().collected_total
    finally:
        spool.close()


def count_in_influx(influxdb: InfluxServer, db: str) -> int:
    total = 0
    for measurement in ("ping", "host", "host_net", "linkwatch"):
        results = influxdb.query(f'SELECT count(*) FROM "{measurement}"', db=db)
        for series in results[0].get("series", []):
            total += max(v for v in series["values"][0][1:] if v is not None)
    return total


@pytest.fixture
def agent_process(tmp_path: Path):
    started: list[subprocess.Popen] = []

    def start(config: Path) -> subprocess.Popen:
        process = subprocess.Popen([*LINKWATCH, "agent", "run", "-c", str(config)],
                                   cwd=tmp_path, env=_env(), stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True)
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait()


def test_readme_first_command_shows_loopback_up_with_rtt(tmp_path: Path) -> None:
    shutil.copy(REPO / "config.yaml", tmp_path / "config.yaml")
    run = linkwatch("agent", "run", "--once", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    status = linkwatch("status", "--local", "--format", "json", cwd=tmp_path)
    assert status.returncode == 0, status.stderr
    pings = {r["address"]: r for r in json.loads(status.stdout) if r["kind"] == "ping"}
    assert pings["127.0.0.1"]["state"] == "UP"
    assert pings["127.0.0.1"]["rtt_avg_ms"] > 0
    table = linkwatch("status", "--local", cwd=tmp_path).stdout
    assert "127.0.0.1" in table and "UP" in table


def test_agent_delivers_data_model_tags_and_fields(
    tmp_path: Path, influxdb: InfluxServer, influx_db: str, agent_process
) -> None:
    config = write_config(tmp_path, influx_output(influxdb.url, influx_db))
    agent_process(config)
    wait_for(lambda: influxdb.points(influx_db, "host_net") and
             len(influxdb.points(influx_db, "ping")) >= 6, 60, "ping and host points")
    ping = influxdb.points(influx_db, "ping")[-1]
    assert {ping["agent"], ping["site"]} == {"e2e-agent", "district-lan"}
    assert ping["target"].startswith("lo") and ping["address"].startswith("127.0.0.")
    assert ping["up"] == 1 and ping["sent"] == 2 and ping["received"] == 2
    assert ping["loss_pct"] == 0 and ping["rtt_avg_ms"] > 0
    assert influxdb.field_types(influx_db, "ping")["sent"] == "integer"
    host = influxdb.points(influx_db, "host")[-1]
    assert 0 <= host["cpu_pct"] <= 100 and host["uptime_s"] > 0
    assert influxdb.field_types(influx_db, "host_net")["rx_bytes"] == "integer"


def _settle(process: subprocess.Popen, config: Path, influxdb: InfluxServer, db: str,
            scenario: str):
    """Stop the agent (SIGTERM), ship what it left queued with its own shipper, and look
    up every point it ever committed in InfluxDB, by series and timestamp, value by value
    (tests/faults/ledger.py): counts taken while it still collects could hide a loss."""
    from linkwatch.agent.config import load_config
    from tests.faults.harness import drain
    from tests.faults.ledger import balance

    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=15)
    assert process.returncode == 0, output
    loaded = load_config(config)
    drain(loaded)
    return balance(scenario, loaded.agent.spool.path, influxdb, db)


def test_database_outage_loses_nothing(
    tmp_path: Path, influxdb: InfluxServer, influx_db: str, agent_process
) -> None:
    config = write_config(tmp_path, influx_output(influxdb.url, influx_db))
    process = agent_process(config)
    wait_for(lambda: count_in_influx(influxdb, influx_db) > 0, 60, "first points")
    influxdb.stop()
    try:
        before = collected(tmp_path)
        wait_for(lambda: collected(tmp_path) > before + 30, 60, "points collected while down")
    finally:
        influxdb.start()
    row = _settle(process, config, influxdb, influx_db, "database outage")
    assert row.lost == 0 and row.dup_diff == 0, row.line()
    assert row.collected > before + 30


class Blackhole:
    """A loopback HTTP server that accepts requests and never answers: a batch in flight."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.requests = 0
        self.conns: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)
            if conn.recv(65536):
                self.requests += 1

    def close(self) -> None:
        for conn in self.conns:
            conn.close()
        self.sock.close()


def test_sigkill_during_a_batch_in_flight_loses_nothing(
    tmp_path: Path, influxdb: InfluxServer, influx_db: str, agent_process
) -> None:
    hole = Blackhole()
    try:
        config = write_config(tmp_path, influx_output(hole.url, influx_db))
        process = agent_process(config)
        wait_for(lambda: hole.requests > 0 and collected(tmp_path) > 10, 60,
                 "a write request in flight")
        process.kill()
        process.wait()
    finally:
        hole.close()
    killed_with = collected(tmp_path)
    # Same agent, same spool, the output now pointing at the real server.
    config.write_text(config.read_text().replace(hole.url, influxdb.url))
    process = agent_process(config)
    wait_for(lambda: count_in_influx(influxdb, influx_db) >= killed_with, 90,
             "the points committed before the kill to be delivered")
    row = _settle(process, config, influxdb, influx_db, "SIGKILL with a batch in flight")
    assert row.lost == 0 and row.dup_diff == 0, row.line()
