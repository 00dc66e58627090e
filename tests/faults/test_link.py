"""A bad link or a sick server during a replay: every point arrives, each with its value."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.faults.harness import Backlog, prefilled, settle, spool_view, wait_for
from tests.faults.proxy import FaultProxy
from tests.servers.influxdb import InfluxServer

pytestmark = [pytest.mark.faults]

# Every other write request misbehaves, each way in turn, for the first 48 requests.
_CYCLE = ("500", "pass", "503", "pass", "429", "pass", "slow", "pass", "reset", "pass",
          "lost_answer", "pass")
_FAULTY_WRITES = 48


def _plan(n: int) -> str:
    return _CYCLE[n % len(_CYCLE)] if n < _FAULTY_WRITES else "pass"


def test_server_errors_throttling_timeouts_and_resets_lose_nothing(
    tmp_path: Path, influxdb: InfluxServer, influx_db: str, record_row, agents
) -> None:
    proxy = FaultProxy(influxdb.port, _plan, slow_s=2.5)
    try:
        backlog = Backlog(points=100_000)
        config_path, config = prefilled(tmp_path, backlog, url=proxy.url, db=influx_db,
                                        timeout="1s")
        agent = agents(config_path).start()
        wait_for(lambda: proxy.writes >= _FAULTY_WRITES, 240,
                 f"{_FAULTY_WRITES} write requests through the faulty proxy")
        wait_for(lambda: spool_view(config).queued < 200, 240, "the queue to drain")
        row = settle(agent, config, influxdb, influx_db, "HTTP 500/503/429/slow/reset",
                     backlog_expected=backlog.expected())
    finally:
        proxy.close()
    injected = {m: proxy.injected[m] for m in ("500", "503", "429", "slow", "reset",
                                                 "lost_answer")}
    row.notes.append(" ".join(f"{m}×{n}" for m, n in injected.items()))
    record_row(row)
    assert all(n >= 2 for n in injected.values()), injected
    assert (row.lost, row.dup_diff, row.dropped) == (0, 0, 0)
    assert row.delivered == row.collected
    log = agent.log()
    # one line when the trouble starts, one when it ends: not one per failed request
    assert log.count("unreachable") < proxy.writes


def test_server_stopped_and_started_again_and_again_during_a_replay_loses_nothing(
    tmp_path: Path, influxdb: InfluxServer, influx_db: str, record_row, agents
) -> None:
    backlog = Backlog(points=400_000)
    config_path, config = prefilled(tmp_path, backlog, url=influxdb.url, db=influx_db)
    agent = agents(config_path).start()
    queued_at_cut = []
    for _ in range(4):
        before = spool_view(config)
        wait_for(lambda b=before: spool_view(config).sent > b.sent, 120,
                 "the replay to make progress")
        queued_at_cut.append(spool_view(config).queued)
        errors = spool_view(config).send_errors
        influxdb.stop()
        wait_for(lambda e=errors: spool_view(config).send_errors > e, 60,
                 "the agent to notice the server is gone")
        influxdb.start()
    wait_for(lambda: spool_view(config).queued < 200, 300, "the queue to drain")
    row = settle(agent, config, influxdb, influx_db, "server flapping during replay",
                 backlog_expected=backlog.expected())
    row.notes.append(f"4 stops, queued at each: {queued_at_cut}")
    record_row(row)
    assert all(q > 1000 for q in queued_at_cut), queued_at_cut  # each cut was mid-replay
    assert (row.lost, row.dup_diff, row.dropped) == (0, 0, 0)
    assert row.delivered == row.collected
