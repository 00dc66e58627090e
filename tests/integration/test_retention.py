"""A backlog older than the server keeps: an island cut off for 10 days comes back to a store
that keeps 7. victoria-metrics would take the old points with 204 and drop them; InfluxDB
refuses them with 400. Either way the agent says so at start-up and in `spool status`,
naming how many points, and they stay answerable from the agent's own history."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from linkwatch.agent.cli import main
from linkwatch.agent.config import load_config
from linkwatch.agent.daemon.service import check_retention
from linkwatch.agent.outputs.retention import read_limits
from linkwatch.agent.query import answers
from linkwatch.agent.query.local import LocalBackend
from linkwatch.agent.query.selection import Selection
from linkwatch.agent.spool import open_spool
from linkwatch.collector.sample import Sample
from tests.integration.test_outputs import deliver
from tests.servers.process import running
from tests.servers.victoria import start_victoria

pytestmark = pytest.mark.integration

DAY = 86400 * 10**9
MIN = 60 * 10**9
OLD, FRESH = 60, 30          # ten-day-old points, and points of the last half hour


def backlog(now_ns: int) -> list[Sample]:
    ten_days_ago = now_ns - 10 * DAY
    old = [Sample("ping", {"agent": "island", "site": "minh-chau", "target": "gw"},
                  {"sent": 5, "received": 5, "up": 1}, ten_days_ago + i * MIN)
           for i in range(OLD)]
    fresh = [Sample("ping", {"agent": "island", "site": "minh-chau", "target": "gw"},
                    {"sent": 5, "received": 5, "up": 1}, now_ns - (FRESH - i) * MIN)
             for i in range(FRESH)]
    return old + fresh


def write_config(root: Path, output: str) -> Path:
    path = root / "config.yaml"
    path.write_text(
        "agent: {name: island, site: minh-chau, spool: {path: spool.db, history: 30d}}\n"
        f"outputs: [{output}]\n"
        "sites: [{name: minh-chau}]\n"
        "checks: {ping: [{name: gw, address: 127.0.0.1}]}\n")
    return path


def spool_status(path: Path, *options: str) -> str:
    result = CliRunner().invoke(main, ["spool", "status", "-c", str(path), *options])
    assert result.exit_code == 0, result.output
    return result.output


def start_up_warnings(path: Path, caplog: pytest.LogCaptureFixture) -> list[str]:
    config = load_config(path)
    spool = open_spool(config)
    try:
        with caplog.at_level(logging.WARNING, "linkwatch.agent"):
            asyncio.run(check_retention(spool, config.outputs[0],
                                        float(config.agent.spool.history)))
    finally:
        spool.close()
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


def test_victoria_metrics_keeping_7_days_meets_a_10_day_backlog(tmp_path, caplog):
    with running(lambda: start_victoria(tmp_path / "vm", retention="7d"),
                 lambda s: s.stop()) as vm:
        path = write_config(tmp_path, f'{{type: victoriametrics, url: "{vm.url}"}}')
        config = load_config(path)
        now = time.time_ns() // MIN * MIN
        spool = open_spool(config)
        spool.append(backlog(now))
        spool.close()

        status = spool_status(path)
        assert f"{OLD} queued points are older than the server keeps " \
               "(-retentionPeriod=7d, 7d00h" in status
        assert "without an error" in status and "local history keeps them for 30d" in status
        warnings = start_up_warnings(path, caplog)
        assert len(warnings) == 1 and f"{OLD} queued points are older" in warnings[0]

        # what the warning is about: the server says 204 and keeps only the fresh points
        spool = open_spool(config)
        deliver(spool, config.outputs[0])
        stored = vm.wait_for('ping_up{agent="island"}',
                             lambda s: sum(len(x["values"]) for x in s) >= FRESH)
        assert sum(len(x["values"]) for x in stored) == FRESH
        # and the old ones are still answered from the agent's own history
        old = Selection(now - 10 * DAY, now - 10 * DAY + OLD * MIN)
        rows = answers.uptime(config, LocalBackend(spool), old)
        assert rows[0]["target"] == "gw" and rows[0]["coverage_pct"] == 100.0
        spool.close()


def test_influxdb_with_a_7_day_policy_meets_a_10_day_backlog(influxdb, influx_db, tmp_path,
                                                             caplog):
    influxdb.query(f'CREATE RETENTION POLICY "week" ON "{influx_db}" DURATION 7d '
                   "REPLICATION 1 DEFAULT")
    path = write_config(tmp_path, f'{{type: influxdb, url: "{influxdb.url}", version: "1", '
                                  f"database: {influx_db}}}")
    config = load_config(path)
    now = time.time_ns() // MIN * MIN
    spool = open_spool(config)
    spool.append(backlog(now))
    spool.close()

    status = spool_status(path)
    assert f"{OLD} queued points are older than the server keeps (retention policy " \
           "week (168h0m0s)" in status
    assert "refuses them (400) and they end as dead letters" in status
    (row,) = json.loads(spool_status(path, "--format", "json"))
    assert f"{OLD} queued points are older" in row["retention_warning"]
    assert len(start_up_warnings(path, caplog)) == 1

    spool = open_spool(config)
    deliver(spool, config.outputs[0])
    # the server's own words come back with the points it refused
    letters = spool.dead_letters()
    assert len(letters) == OLD
    assert "points beyond retention policy dropped" in letters[0].message
    spool.close()


def test_no_backlog_means_no_question_to_the_server(tmp_path):
    # a port nothing listens on: spool status must not wait for it when nothing is old
    path = write_config(tmp_path, '{type: victoriametrics, url: "http://127.0.0.1:9"}')
    config = load_config(path)
    spool = open_spool(config)
    spool.append(backlog(time.time_ns())[OLD:])
    spool.close()
    assert "retention" not in spool_status(path)


def test_victoria_metrics_without_dedup_is_named_at_start_up(tmp_path, caplog):
    with running(lambda: start_victoria(tmp_path / "vm", dedup=False),
                 lambda s: s.stop()) as vm:
        path = write_config(tmp_path, f'{{type: victoriametrics, url: "{vm.url}"}}')
        assert read_limits(load_config(path).outputs[0]).retention_s == 100 * 365 * 86400
        warnings = start_up_warnings(path, caplog)
        assert len(warnings) == 1 and "-dedup.minScrapeInterval=1ms" in warnings[0]


def test_an_unreadable_retention_is_said_not_guessed(tmp_path):
    from linkwatch.agent.config.schema import VictoriaOutput
    from linkwatch.agent.outputs.retention import backlog_notes

    output = VictoriaOutput(type="victoriametrics", insert_url="http://127.0.0.1:9",
                            select_url="http://127.0.0.1:9")
    now = time.time_ns()
    notes = backlog_notes(output, now - 10 * DAY, lambda t: 5, 30 * 86400.0, now)
    assert len(notes) == 1 and "could not be read" in notes[0] and "cluster" in notes[0]
