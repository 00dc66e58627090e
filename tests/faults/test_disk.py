"""The spool's size cap reached during a long outage, and the disk itself running full."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.faults.harness import (
    Backlog,
    config_of,
    prefilled,
    settle,
    spool_view,
    wait_for,
    write_config,
)
from tests.faults.ledger import backlog_downstream
from tests.faults.proxy import FaultProxy
from tests.servers.influxdb import InfluxServer
from tests.servers.process import unavailable

pytestmark = [pytest.mark.faults]


def _last(influx: InfluxServer, db: str, q: str):
    res = influx.query(q, db=db)
    series = res[0].get("series")
    return series[0]["values"][0] if series else None


def test_size_cap_evicts_the_oldest_unsent_and_counts_exactly_what_is_missing(
    tmp_path: Path, influxdb: InfluxServer, influx_db: str, record_row, agents
) -> None:
    proxy = FaultProxy(influxdb.port)
    proxy.down = True                                  # the link is cut
    try:
        backlog = Backlog(points=40_000)               # more than 4 MiB holds
        config_path, config = prefilled(tmp_path, backlog, chunk=500, url=proxy.url,
                                        db=influx_db, max_size="4MiB")
        after_fill = spool_view(config)
        assert after_fill.dropped > 0
        agent = agents(config_path).start()
        agent.wait_started()
        outage_from = time.time_ns()
        # the agent keeps polling at the cap: it commits and evicts older points for room
        wait_for(lambda: spool_view(config).collected > after_fill.collected + 200 and
                 spool_view(config).dropped > after_fill.dropped, 120,
                 "the agent to poll on at the cap, evicting")
        outage_to = time.time_ns()
        proxy.down = False                             # the link is back
        wait_for(lambda: spool_view(config).queued < 200, 120, "the queue to drain")
        row = settle(agent, config, influxdb, influx_db, "spool size cap (4MiB)")
    finally:
        proxy.close()
    row.notes.append(f"{after_fill.dropped} evicted by the pre-fill, "
                     f"{row.dropped - after_fill.dropped} by the running agent")
    record_row(row)
    assert row.lost == 0 and row.dup_diff == 0
    assert row.collected - row.delivered == row.dropped > 0
    # The `linkwatch` self-measurement downstream says the same.
    _, dropped = _last(influxdb, influx_db, 'SELECT last("dropped") FROM "linkwatch"')
    assert dropped == row.dropped
    # What went is the oldest: the backlog downstream is its newest part, whole.
    got = sum(n for n, *_ in backlog_downstream(influxdb, influx_db).values())
    first_ns, _ = _last(influxdb, influx_db,
                        'SELECT first("sent") FROM "ping" WHERE target =~ /^island-/')
    cycles_kept = (backlog.end_ns - first_ns) // backlog.step_ns
    assert backlog.series * (cycles_kept - 1) < got <= backlog.series * cycles_kept
    # Every live target was polled through the outage and delivered.
    res = influxdb.query(f'SELECT count("sent") FROM "ping" WHERE target =~ /^lo/ AND '
                         f'time >= {outage_from} AND time < {outage_to} GROUP BY target',
                         db=influx_db)
    assert len(res[0]["series"]) == 20
    assert "size cap" in agent.log() and "dropping the oldest unsent" in agent.log()


@pytest.fixture
def small_disk(tmp_path: Path):
    """A 24 MiB tmpfs mounted for the test (root only)."""
    if os.geteuid() != 0:
        unavailable("mounting a tmpfs needs root")
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(mount)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        unavailable(f"cannot mount a tmpfs: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(path: Path) -> None:
    """Write until the file system has no room left."""
    chunk = b"\0" * (256 * 1024)
    with path.open("wb", buffering=0) as f:
        with contextlib.suppress(OSError):
            while True:
                f.write(chunk)
        with contextlib.suppress(OSError):
            while True:
                f.write(b"\0" * 4096)


def test_disk_full_keeps_the_agent_running_and_it_recovers_by_itself(
    tmp_path: Path, small_disk: Path, influxdb: InfluxServer, influx_db: str, record_row, agents
) -> None:
    config_path = write_config(tmp_path, url=influxdb.url, db=influx_db,
                               spool=str(small_disk / "spool.db"))
    config = config_of(config_path)
    agent = agents(config_path).start()
    agent.wait_started()
    wait_for(lambda: spool_view(config).sent > 100, 60, "the first points delivered")

    ballast = small_disk / "ballast"
    _fill(ballast)
    full_from = time.time_ns()
    wait_for(lambda: "the disk is full" in agent.log(), 60, "the agent to log the full disk")
    status = subprocess.run([sys.executable, "-m", "linkwatch", "spool", "status", "-c",
                             str(config_path)], capture_output=True, text=True, timeout=60,
                            env=dict(os.environ))
    assert "DISK FULL" in status.stdout, status.stdout + status.stderr
    # A few cycles on a full disk: the agent lives on, the samples wait in memory.
    wait_for(lambda: time.time_ns() - full_from > 4 * 10**9, 10, "four cycles")
    assert agent.alive
    ballast.unlink()
    full_to = time.time_ns()
    wait_for(lambda: "disk has room again" in agent.log(), 60, "the agent to recover")
    wait_for(lambda: spool_view(config).queued < 200, 60, "the queue to drain")
    row = settle(agent, config, influxdb, influx_db, "disk full (ENOSPC tmpfs)")
    record_row(row)
    assert (row.lost, row.dup_diff, row.dropped) == (0, 0, 0)
    assert row.delivered == row.collected
    # The cycles polled while the disk was full were kept and delivered.
    res = influxdb.query(f'SELECT count("sent") FROM "ping" WHERE time >= {full_from} AND '
                         f'time < {full_to} GROUP BY target', db=influx_db)
    counts = [s["values"][0][1] for s in res[0].get("series", [])]
    assert len(counts) == 20 and min(counts) >= 3, counts
    assert agent.log().count("the disk is full") == 1    # said once, not once per cycle
