"""Numbers for people and for programs: a table shows `7d 0h 4m` and `11.7 Mbit/s`, JSON and
CSV keep the raw values in the units their keys name; times share one zone; `spool status`
keeps its notes as keys in JSON and CSV."""

from __future__ import annotations

import csv
import io
import json
import textwrap
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from linkwatch.agent.cli import main
from linkwatch.agent.cli.readable import duration, rate
from linkwatch.agent.cli.table import render
from linkwatch.agent.spool import Spool
from linkwatch.collector.sample import Sample

S = 10**9


@pytest.mark.parametrize(("seconds", "shown"), [
    (605040.0, "7d 0h 4m"), (2548440, "29d 11h 54m"), (3780, "1h 3m"), (250, "4m 10s"),
    (42.4, "42s"), (0.8, "0.8s"), (0, "0s"),
])
def test_durations_read_in_days_hours_minutes(seconds, shown):
    assert duration(seconds) == shown


@pytest.mark.parametrize(("bps", "shown"), [
    (11663517.5, "11.7 Mbit/s"), (100e6, "100 Mbit/s"), (950, "950 bit/s"),
    (2.5e9, "2.5 Gbit/s"), (8e3, "8 kbit/s"),
])
def test_rates_read_with_decimal_prefixes(bps, shown):
    assert rate(bps) == shown


ROWS = [{"site": "dong-xa", "target": "dong-xa-router", "availability_pct": 76.98412,
         "downtime_s": 605040.0, "mttr_s": None, "mean_bps": 11663517.5,
         "insufficient": True}]
COLUMNS = ("site", "target", "availability_pct", "downtime_s", "mttr_s", "mean_bps",
           "insufficient")


def test_a_table_shows_each_value_with_its_unit():
    head, row = render(ROWS, "table", COLUMNS).splitlines()
    assert head.split() == ["SITE", "TARGET", "AVAILABILITY", "DOWNTIME", "MTTR", "MEAN",
                            "INSUFFICIENT"]
    assert "76.98%" in row and "7d 0h 4m" in row and "11.7 Mbit/s" in row
    assert row.split()[-1] == "yes"


def test_json_and_csv_keep_raw_values_empty_nulls_and_true_false():
    assert json.loads(render(ROWS, "json", COLUMNS)) == ROWS
    (row,) = csv.DictReader(io.StringIO(render(ROWS, "csv", COLUMNS)))
    assert row == {"site": "dong-xa", "target": "dong-xa-router",
                   "availability_pct": "76.98412", "downtime_s": "605040.0", "mttr_s": "",
                   "mean_bps": "11663517.5", "insufficient": "true"}


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(textwrap.dedent(f"""\
        agent:
          name: a1
          site: hq
          timezone: Asia/Ho_Chi_Minh
          spool: {{path: {tmp_path / 'spool.db'}}}
        outputs: [{{type: influxdb, url: "http://127.0.0.1:9", name: district}}]
        sites: [{{name: hq}}]
        checks:
          ping:
            - {{name: gw, address: 192.0.2.1, interval: 60s}}
        """))
    return path


def _spool(config: Path, *, up_now: int) -> None:
    """An hour of `gw`, up until ten minutes ago and `up_now` since."""
    now = time.time_ns() // (60 * S) * 60 * S
    spool = Spool.open(config.parent / "spool.db", max_size=2**24, history_s=86400,
                       outputs=["district"])
    ups = [1 if ago > 10 else up_now for ago in range(60, 0, -1)]
    spool.append([Sample("ping", {"site": "hq", "target": "gw", "agent": "a1"},
                         {"sent": 5, "received": 5 * up, "up": up}, now - ago * 60 * S)
                  for ago, up in zip(range(60, 0, -1), ups, strict=True)])
    spool.ack("district", spool.next_batch("district", 10).ids)
    spool.dead_letter("district", spool.next_batch("district", 1).ids,
                      "partial write: field type conflict")
    spool.close()


def test_status_shows_since_and_last_seen_in_the_same_zone(config):
    _spool(config, up_now=0)
    done = CliRunner().invoke(main, ["status", "--local", "-c", str(config), "--format",
                                     "json"])
    assert done.exit_code == 0, done.output
    (row,) = json.loads(done.stdout)
    assert row["state"] == "DOWN"
    assert row["since"].endswith("+07:00") and row["last_seen"].endswith("+07:00")


def test_spool_status_keeps_its_notes_as_keys_in_json_and_csv(config):
    _spool(config, up_now=1)
    runner = CliRunner()
    done = runner.invoke(main, ["spool", "status", "-c", str(config), "--format", "json"])
    assert done.exit_code == 0, done.output
    (row,) = json.loads(done.stdout)
    assert row["output"] == "district" and row["dead_letters"] == 1
    assert row["last_dead_letter"] == "partial write: field type conflict"
    assert row["disk_full"] is False and row["points"] == 60
    assert row["spool_path"] == str(config.parent / "spool.db")
    assert row["last_send_ok"].endswith("+07:00")
    done = runner.invoke(main, ["spool", "status", "-c", str(config), "--format", "csv"])
    (row,) = csv.DictReader(io.StringIO(done.stdout))
    assert row["disk_full"] == "false" and row["eta_s"] == ""
    assert row["last_dead_letter"] == "partial write: field type conflict"
    table = runner.invoke(main, ["spool", "status", "-c", str(config)]).stdout
    assert "dead letter for district: partial write: field type conflict" in table
