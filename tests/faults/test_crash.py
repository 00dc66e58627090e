"""The agent killed without warning, and a spool file damaged while it was down."""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest

from tests.faults.harness import Backlog, prefilled, settle, spool_view, wait_for
from tests.faults.proxy import FaultProxy
from tests.servers.influxdb import InfluxServer

pytestmark = [pytest.mark.faults]

KILLS = 30


def test_sigkill_at_random_moments_during_collection_and_replay_loses_nothing_committed(
    tmp_path: Path, influxdb: InfluxServer, influx_db: str, record_row, agents
) -> None:
    # A slow link (each write held 0.2 s) keeps the replay going through all the kills.
    proxy = FaultProxy(influxdb.port, lambda n: "slow", slow_s=0.2)
    backlog = Backlog(points=300_000)
    config_path, config = prefilled(tmp_path, backlog, url=proxy.url, db=influx_db,
                                    batch_size=2000)
    rng = random.Random(7)
    agent = agents(config_path)
    moments: dict[str, int] = {"starting": 0, "after a commit": 0, "after an ack": 0}
    committed_before = 0
    for i in range(KILLS):
        agent.start()
        if i % 5 == 4:
            moment = "starting"          # anywhere in start-up: imports, spool open, salvage
            time.sleep(rng.uniform(0.0, 0.8))
        else:
            agent.wait_started()
            view = spool_view(config)
            if i % 2:
                moment = "after an ack"  # mid-replay: a batch just acknowledged
                wait_for(lambda v=view: spool_view(config).sent > v.sent, 60, "an ack")
            else:
                moment = "after a commit"  # mid-collection: samples just committed
                wait_for(lambda v=view: spool_view(config).collected > v.collected, 60,
                         "a commit")
            time.sleep(rng.uniform(0.0, 0.3))
        agent.kill()
        moments[moment] += 1
        committed = spool_view(config).collected
        assert committed >= committed_before, "a committed point disappeared"
        committed_before = committed
    assert not list(tmp_path.glob("spool.db.corrupt-*")), "a kill damaged the spool"
    replaying_at_last_kill = spool_view(config).queued
    proxy.slow_s = 0.0
    agent.start()
    agent.wait_started()
    try:
        wait_for(lambda: spool_view(config).queued < 200, 300, "the queue to drain")
        row = settle(agent, config, influxdb, influx_db, f"SIGKILL x{KILLS}",
                     backlog_expected=backlog.expected())
    finally:
        proxy.close()
    row.notes.append(", ".join(f"{n} {m}" for m, n in moments.items()))
    row.notes.append(f"{replaying_at_last_kill} still queued at the last kill")
    record_row(row)
    assert (row.lost, row.dup_diff, row.dropped) == (0, 0, 0)
    assert row.delivered == row.collected


def test_truncated_spool_is_moved_aside_and_what_can_be_read_is_delivered(
    tmp_path: Path, influxdb: InfluxServer, influx_db: str, record_row, agents
) -> None:
    backlog = Backlog(points=50_000)
    config_path, config = prefilled(tmp_path, backlog, url=influxdb.url, db=influx_db)
    spool_path = config.agent.spool.path
    size = spool_path.stat().st_size
    with spool_path.open("r+b") as f:          # a power cut that lost the file's tail
        f.truncate(size * 6 // 10)
    agent = agents(config_path).start()
    agent.wait_started()
    aside = wait_for(lambda: list(tmp_path.glob("spool.db.corrupt-*")), 30,
                     "the damaged file moved aside")
    log = agent.log()
    assert "is damaged" in log and str(aside[0]) in log, log[-2000:]
    wait_for(lambda: spool_view(config).queued < 200, 120, "the salvaged points delivered")
    row = settle(agent, config, influxdb, influx_db, "truncated spool at start")
    # Whatever was salvaged is exactly what was generated: no garbage from damaged pages.
    generated = {backlog.sample(i).time_ns: backlog.sample(i) for i in range(backlog.points)
                 if i % backlog.series == 0}
    res = influxdb.query("SELECT * FROM ping WHERE target = 'island-00'", db=influx_db)
    rows = res[0]["series"][0]["values"] if res[0].get("series") else []
    columns = res[0]["series"][0]["columns"] if rows else []
    salvaged = 0
    for values in rows:
        point = dict(zip(columns, values, strict=True))
        want = generated[point["time"]]
        assert point["up"] == want.fields["up"]
        assert point.get("rtt_avg_ms") == want.fields.get("rtt_avg_ms")
        salvaged += 1
    island = sum(n for n, *_ in _island_counts(influxdb, influx_db).values())
    row.collected += backlog.points   # the counters themselves were in the lost tail
    row.notes.append(f"{island} of {backlog.points} backlog points salvaged; the other "
                     f"{backlog.points - island} were in the cut-off tail of the file")
    record_row(row)
    assert salvaged > 0 and island > 0
    assert (row.lost, row.dup_diff, row.dropped) == (0, 0, 0)
    assert agent.process.returncode == 0


def _island_counts(influx: InfluxServer, db: str) -> dict[str, tuple]:
    from tests.faults.ledger import backlog_downstream

    return backlog_downstream(influx, db)
