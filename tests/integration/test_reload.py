"""SIGHUP on the real agent process: what a reload keeps (the queue of unsent points), what
it picks up (a rotated password), and how it falls back when the new config cannot start.

As in test_service.py, the test plays systemd's part (the notify socket). Loss is judged
by point identity: the agent is stopped, what it left queued is shipped with its own
shipper, and every committed point is looked up in InfluxDB (tests/faults/ledger.py).
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from linkwatch.agent.config import load_config
from tests.faults.harness import drain
from tests.faults.ledger import balance
from tests.integration.test_service import Agent, NotifySocket, _env, _stop
from tests.servers.influxdb import InfluxServer, start_influxd
from tests.servers.process import running

pytestmark = pytest.mark.integration
WAIT_S = 60.0


def _config(path: Path, *, url: str, db: str, targets: tuple[str, ...] = ("127.0.0.1",),
            output: str = "", spool: str = "./spool.db") -> None:
    pings = "".join(f"    - {{name: t{i}, address: {a}, interval: 500ms, count: 1}}\n"
                    for i, a in enumerate(targets))
    path.write_text(textwrap.dedent(f"""\
        agent:
          name: reload-test
          site: lab
          spool: {{path: '{spool}', max_size: 64MiB, history: 1d}}
        sites:
          - {{name: lab}}
        outputs:
          - {{type: influxdb, name: central, url: '{url}', database: {db}, version: '1',
              timeout: 2s{output}}}
        checks:
          ping:
        """) + pings)


def _wait(condition, what: str, timeout: float = WAIT_S):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(0.2)


def _queued_ids(spool: Path) -> set[int]:
    with sqlite3.connect(f"file:{spool}?mode=ro", uri=True, timeout=10) as db:
        return {row[0] for row in db.execute("SELECT point_id FROM queue")}


@pytest.fixture
def start(tmp_path: Path) -> Iterator:
    """Start the agent on a config written by the test; killed at the end whatever happens."""
    started: list[Agent] = []

    def run(config: Path) -> Agent:
        notify = NotifySocket(tmp_path / f"notify{len(started)}")
        log = tmp_path / "agent.log"
        with log.open("a") as stderr:
            process = subprocess.Popen(
                [sys.executable, "-m", "linkwatch", "agent", "run", "-c", str(config)],
                cwd=tmp_path, stdin=subprocess.DEVNULL, stdout=stderr, stderr=stderr,
                env=_env(NOTIFY_SOCKET=str(notify.path)))
        agent = Agent(process, config, log, notify)
        agent.reader.write_text(config.read_text())
        started.append(agent)
        agent.notify.wait_for(lambda m: "READY=1" in m, "READY=1")
        return agent

    yield run
    for agent in started:
        if agent.process.poll() is None:
            agent.process.kill()
            agent.process.wait()
        agent.notify.close()


def _reload(agent: Agent) -> str:
    """SIGHUP, then the READY=1 message that ends the reload."""
    since = len(agent.notify.messages)
    agent.process.send_signal(signal.SIGHUP)
    agent.notify.wait_for(lambda m: m.startswith("RELOADING=1"), "RELOADING=1", since=since)
    return agent.notify.wait_for(lambda m: "READY=1" in m, "READY=1 after the reload",
                                 since=since + 1)


def _settle(agent: Agent, influx: InfluxServer, db: str, name: str):
    """Stop the agent, ship what it left queued, and balance the books."""
    assert _stop(agent) == 0, agent.stderr()
    config = load_config(agent.config)
    drain(config)
    return balance(name, config.agent.spool.path, influx, db)


def test_a_reload_keeps_every_unsent_point_even_when_the_spool_is_reopened(
        tmp_path: Path, start, influxdb: InfluxServer, influx_db: str) -> None:
    config = tmp_path / "agent.yaml"
    _config(config, url="http://127.0.0.1:9", db=influx_db)  # nothing listens there
    agent = start(config)
    spool = tmp_path / "spool.db"
    _wait(lambda: len(_queued_ids(spool)) >= 10, "points queued for the dead output")
    before = _queued_ids(spool)

    # a new check, and new output settings: the spool is closed and opened again
    _config(config, url="http://127.0.0.1:9", db=influx_db,
            targets=("127.0.0.1", "127.0.0.2"), output=", batch_size: 100")
    assert "STATUS=2 checks" in _reload(agent)
    assert before <= _queued_ids(spool)
    assert "config reloaded from" in agent.stderr()

    # the same output (its name) at the server's real address: the backlog goes out
    _config(config, url=influxdb.url, db=influx_db, targets=("127.0.0.1", "127.0.0.2"),
            output=", batch_size: 100")
    _reload(agent)
    _wait(lambda: not before & _queued_ids(spool), "the old backlog to be delivered")
    row = _settle(agent, influxdb, influx_db, "reload keeps the queue")
    assert row.lost == 0 and row.dup_diff == 0, row.line()


@pytest.fixture
def guarded_influx(tmp_path_factory) -> Iterator[InfluxServer]:
    """An influxd of its own with authentication on (the session's has none)."""
    with running(lambda: start_influxd(tmp_path_factory.mktemp("influxd-auth"), auth=True),
                 InfluxServer.stop) as server:
        yield server


def test_a_reload_picks_up_a_rotated_password_and_keeps_it_out_of_the_log(
        tmp_path: Path, start, guarded_influx: InfluxServer) -> None:
    influx, db = guarded_influx, "rotated"
    influx.create_database(db)
    influx.query("CREATE USER agent WITH PASSWORD 'old-pass-4411'")
    influx.query(f'GRANT ALL ON "{db}" TO agent')
    secret = tmp_path / "influx.pass"
    secret.write_text("old-pass-4411\n")
    config = tmp_path / "agent.yaml"
    _config(config, url=influx.url, db=db,
            output=", username: agent, password_file: ./influx.pass")
    agent = start(config)
    _wait(lambda: influx.points(db, "ping"), "points written with the old password")

    # the server's password changes first: writes are refused, points queue up
    influx.query("SET PASSWORD FOR agent = 'new-pass-5522'")
    _wait(lambda: "refuses writes" in agent.stderr(), "the refusal to be logged")
    spool = tmp_path / "spool.db"
    _wait(lambda: len(_queued_ids(spool)) >= 5, "points queued while refused")
    refused = _queued_ids(spool)

    # then the file, swapped atomically as docs/operations.md shows, and a reload
    fresh = tmp_path / "influx.pass.new"
    fresh.write_text("new-pass-5522\n")
    os.replace(fresh, secret)
    _reload(agent)
    _wait(lambda: not refused & _queued_ids(spool), "the refused points to be delivered")
    row = _settle(agent, influx, db, "password rotated")
    assert row.lost == 0 and row.dup_diff == 0, row.line()
    log = agent.stderr()
    assert "old-pass-4411" not in log and "new-pass-5522" not in log


def test_a_config_that_cannot_start_is_rolled_back_and_the_old_one_keeps_collecting(
        tmp_path: Path, start, influxdb: InfluxServer, influx_db: str) -> None:
    config = tmp_path / "agent.yaml"
    _config(config, url=influxdb.url, db=influx_db)
    agent = start(config)
    agent.wait_until_polled("t0")
    # valid as a config, but its spool cannot be created: /proc takes no new directories
    _config(config, url=influxdb.url, db=influx_db, targets=("127.0.0.1", "127.0.0.2"),
            spool="/proc/linkwatch/spool.db")
    assert "STATUS=1 checks" in _reload(agent)  # the old generation again
    log = agent.stderr()
    assert "could not be started; going back to the running one" in log
    assert "/proc/linkwatch" in log
    agent.wait_until_polled("t0", after=agent.status()["t0"]["last_seen"])
    assert agent.process.poll() is None
    _config(config, url=influxdb.url, db=influx_db)  # put back what runs, for the books
    row = _settle(agent, influxdb, influx_db, "rolled back")
    assert row.lost == 0 and row.dup_diff == 0, row.line()
