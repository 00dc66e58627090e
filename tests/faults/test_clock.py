"""The wall clock stepped back an hour and forward again (an NTP correction) under the agent.

The real clock cannot be stepped safely on a shared machine, so the agent process runs
under libfaketime (Debian `faketime`): LD_PRELOAD shifts CLOCK_REALTIME (what time.time_ns
reads) by the offset written in a file the test controls, re-read on every call, while
CLOCK_MONOTONIC (the scheduler's and asyncio's clock) is left alone, as NTP leaves it. No
product code knows about it.
"""

from __future__ import annotations

import glob
import time
from pathlib import Path

import pytest

from tests.faults.harness import config_of, settle, wait_for, write_config
from tests.servers.influxdb import InfluxServer
from tests.servers.process import unavailable

pytestmark = [pytest.mark.faults]

HOUR_NS = 3600 * 10**9
# where Debian's faketime package puts the library, on any architecture (multiarch), and
# where other distributions and a build from source do
LIBFAKETIME_PLACES = ("/usr/lib/*/faketime/libfaketime.so.1", "/usr/lib*/faketime/libfaketime.so.1",
                      "/usr/local/lib/faketime/libfaketime.so.1")


@pytest.fixture(scope="module")
def libfaketime() -> Path:
    for pattern in LIBFAKETIME_PLACES:
        found = sorted(glob.glob(pattern))
        if found:
            return Path(found[0])
    unavailable("libfaketime not installed (Debian package faketime)")


def _count(influx: InfluxServer, db: str, where: str) -> int:
    res = influx.query(f'SELECT count("sent") FROM "ping" WHERE {where}', db=db)
    series = res[0].get("series")
    return series[0]["values"][0][1] if series else 0


def test_clock_stepped_back_and_forward_an_hour_loses_and_overwrites_nothing(
    tmp_path: Path, influxdb: InfluxServer, influx_db: str, record_row, agents, libfaketime
) -> None:
    offset = tmp_path / "clock-offset"
    offset.write_text("+0\n")
    config_path = write_config(tmp_path, url=influxdb.url, db=influx_db)
    config = config_of(config_path)
    agent = agents(config_path, env={
        "LD_PRELOAD": str(libfaketime), "FAKETIME_TIMESTAMP_FILE": str(offset),
        "FAKETIME_NO_CACHE": "1", "FAKETIME_DONT_FAKE_MONOTONIC": "1"}).start()
    agent.wait_started()
    t0 = time.time_ns()
    wait_for(lambda: _count(influxdb, influx_db, f"time >= {t0 - 60 * 10**9}") >= 60, 60,
             "three cycles at the right time")
    offset.write_text("-1h\n")                         # NTP steps the clock back an hour
    back_at = time.time_ns()
    wait_for(lambda: _count(influxdb, influx_db, f"time < {back_at - HOUR_NS // 2}") >= 60,
             60, "three cycles an hour in the past")
    offset.write_text("+0\n")                          # … and forward again
    forward_at = time.time_ns()
    wait_for(lambda: _count(influxdb, influx_db, f"time >= {forward_at}") >= 60, 60,
             "three cycles after the step forward")
    row = settle(agent, config, influxdb, influx_db, "clock -1h then +1h (faketime)")
    record_row(row)
    assert (row.lost, row.dup_diff, row.dropped) == (0, 0, 0)
    assert row.delivered == row.collected
    assert "Traceback" not in agent.log()
