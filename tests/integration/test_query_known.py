"""Query verbs on a month of generated one-minute ping data with known answers, from a real
InfluxDB 1.6.7, a real victoria-metrics and the local history: all three must give the
hand-computed values, and the same rows.

The month (2026-09-01 to 2026-10-01 UTC, 43,200 minutes), by minute index:
- the agent was down 10000–10119 for every target (no samples);
- the `hq` link went down 20000–20059: both hq targets fail, and the island targets (site
  `island`, parent `hq`) fail with them — UNREACHABLE, charged to hq;
- isl-a: outages 5000–5029 and 30000–30004, flaps 6000–6001 and 7000;
- isl-b: fails 9990–9999, then the agent goes down (an outage ended by a data gap);
- hq-dns: a flap 15000–15001 and an outage from 43190 to the end (ongoing);
- solo (no parent): always up, one sample in 100 loses one echo of five.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import textwrap
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner

from linkwatch.agent.cli import main
from linkwatch.agent.config import load_config
from linkwatch.agent.query import answers
from linkwatch.agent.query.influx import InfluxBackend
from linkwatch.agent.query.local import LocalBackend
from linkwatch.agent.query.selection import Selection
from linkwatch.agent.query.victoria import VictoriaBackend
from linkwatch.agent.spool import Spool
from linkwatch.collector.sample import Sample
from tests.integration.rows import assert_same_rows

pytestmark = pytest.mark.integration

T0 = 1788220800 * 10**9            # 2026-09-01T00:00:00Z
MIN = 60 * 10**9
MINUTES = 43_200
UNTIL = T0 + MINUTES * MIN
AGENT_DOWN = range(10000, 10120)
PARENT_DOWN = range(20000, 20060)
SITES = {"hq-gw": "hq", "hq-dns": "hq", "isl-a": "island", "isl-b": "island", "solo": "solo"}
FAILED = {
    "hq-gw": set(PARENT_DOWN),
    "hq-dns": {15000, 15001} | set(PARENT_DOWN) | set(range(43190, MINUTES)),
    "isl-a": (set(range(5000, 5030)) | set(range(30000, 30005)) | {6000, 6001, 7000}
              | set(PARENT_DOWN)),
    "isl-b": set(range(9990, 10000)) | set(PARENT_DOWN),
    "solo": set(),
}


def rtt(target: str, m: int) -> float:
    return 5.0 + len(target) + (m * 7 % 23) * 0.25


def samples(agent: str = "a1") -> list[Sample]:
    out = []
    for target, site in SITES.items():
        for m in range(MINUTES):
            if m in AGENT_DOWN:
                continue
            if m in FAILED[target]:
                fields = {"sent": 5, "received": 0, "loss_pct": 100.0, "up": 0}
            else:
                received = 4 if target == "solo" and m % 100 == 0 else 5
                fields = {"sent": 5, "received": received,
                          "loss_pct": 100.0 * (5 - received) / 5, "up": 1,
                          "rtt_avg_ms": rtt(target, m), "jitter_ms": (m % 5) * 0.1}
            out.append(Sample("ping", {"agent": agent, "site": site, "target": target,
                                       "address": "127.0.0.1"}, fields, T0 + m * MIN))
    return out


BACKENDS = ["influx", "local", "victoria"]


@pytest.fixture(scope="module")
def month(influxdb, victoria_alone, tmp_path_factory):
    """The config, and the month written to InfluxDB, victoria-metrics and a spool."""
    from linkwatch.agent.datamodel.lineprotocol import encode

    root = tmp_path_factory.mktemp("month")
    db = "query_month"
    if not influxdb.running:
        influxdb.start()
    influxdb.create_database(db)
    data = samples()
    lines = [encode(s) for s in data]
    for i in range(0, len(lines), 20_000):
        body = gzip.compress(b"\n".join(lines[i:i + 20_000]))
        request = urllib.request.Request(f"{influxdb.url}/write?db={db}", data=body,
                                         headers={"Content-Encoding": "gzip"}, method="POST")
        with urllib.request.urlopen(request, timeout=60) as response:
            assert response.status == 204
    victoria = victoria_alone
    victoria.write(lines)
    config_path = root / "config.yaml"
    config_path.write_text(textwrap.dedent(f"""\
        agent:
          name: a1
          site: hq
          timezone: Asia/Ho_Chi_Minh
          spool: {{path: {root / 'spool.db'}, max_size: 1GiB, history: 3650d}}
        outputs:
          - {{type: influxdb, url: "{influxdb.url}", version: "1", database: {db}}}
          - {{type: victoriametrics, url: "{victoria.url}"}}
        sites:
          - {{name: hq}}
          - {{name: island, parent: hq}}
          - {{name: solo}}
        checks:
          ping:
        """) + "".join(
        f"    - {{name: {t}, address: 127.0.0.1, site: {s}, interval: 60s}}\n"
        for t, s in SITES.items()))
    config = load_config(config_path)
    spool = Spool.open(config.agent.spool.path, max_size=2**30, history_s=3650 * 86400,
                       outputs=[])
    spool.append(data)
    spool.append(data[:50])        # resent after a crash: must count once
    yield config, spool, influxdb, db
    spool.close()
    influxdb.drop_database(db)


SEL = Selection(T0, UNTIL)


def open_(name, month):
    config, spool, _server, _db = month
    if name == "influx":
        return InfluxBackend(config.outputs[0])
    if name == "victoria":
        return VictoriaBackend(config.outputs[1])
    return LocalBackend(spool)


@pytest.fixture(scope="module")
def answered(month):
    """Each verb's rows over the month, once per backend (reading the history is the slow
    part; the tests below only look at the rows)."""
    config = month[0]
    return {name: {verb.__name__: verb(config, open_(name, month), SEL)
                   for verb in (answers.uptime, answers.outages, answers.latency)}
            for name in BACKENDS}


@pytest.fixture(params=BACKENDS)
def backend(request, month):
    return open_(request.param, month)


@pytest.fixture(params=BACKENDS)
def rows_of(request, answered):
    return answered[request.param]


def by_target(rows):
    return {r["target"]: r for r in rows}


def minute(m: int) -> int:
    return T0 + m * MIN


def instant(text: str | None) -> int | None:
    """An answer's ISO 8601 time as ns; it must carry the config's zone (+07:00), whatever
    the zone of the machine running the test."""
    if text is None:
        return None
    moment = dt.datetime.fromisoformat(text)
    assert moment.utcoffset() == dt.timedelta(hours=7), text
    return int(moment.timestamp()) * 10**9


def test_uptime_matches_the_hand_computed_figures(rows_of):
    rows = by_target(rows_of["uptime"])
    # isl-a: 43,080 samples; failed 98 minutes of which 60 while hq was down (unreachable)
    a = rows["isl-a"]
    assert a["availability_pct"] == pytest.approx(100 * 42982 / (42982 + 38), abs=0.005)
    assert a["coverage_pct"] == pytest.approx(100 * 43080 / 43200, abs=0.005)
    assert a["downtime_s"] == 38 * 60
    assert a["unreachable_s"] == 60 * 60
    assert a["unknown_s"] == 120 * 60
    assert (a["outages"], a["flaps"]) == (2, 2)
    assert a["mttr_s"] == (30 + 5) * 60 / 2
    assert a["mtbf_s"] == pytest.approx(42982 * 60 / 2)
    # hq-gw: hq has no parent, so the link outage is its own
    g = rows["hq-gw"]
    assert (g["downtime_s"], g["outages"], g["flaps"], g["mttr_s"]) == (3600, 1, 0, 3600)
    assert g["availability_pct"] == pytest.approx(100 * 43020 / 43080, abs=0.005)
    # hq-dns: flap, link outage, ongoing outage of 10 minutes
    d = rows["hq-dns"]
    assert (d["downtime_s"], d["outages"], d["flaps"]) == ((2 + 60 + 10) * 60, 2, 1)
    assert d["mttr_s"] == (60 + 10) * 60 / 2
    b = rows["isl-b"]
    assert (b["downtime_s"], b["outages"], b["unreachable_s"]) == (600, 1, 3600)
    s = rows["solo"]
    assert (s["availability_pct"], s["outages"], s["mttr_s"], s["mtbf_s"]) == (100.0, 0, None,
                                                                              None)
    # the site roll-up of island sums its targets
    site = next(r for r in rows_of["uptime"] if r["site"] == "island" and r["target"] is None)
    assert site["downtime_s"] == (38 + 10) * 60
    assert site["outages"] == 3


def test_outages_have_minute_boundaries_and_parent_charges(rows_of):
    rows = rows_of["outages"]
    found = {(r["target"], instant(r["start"])): r for r in rows}
    assert len(rows) == 8
    a1 = found[("isl-a", minute(5000))]
    assert (instant(a1["end"]), a1["duration_s"], a1["ended_by"]) == (
        minute(5030), 1800, "recovery")
    assert instant(found[("isl-a", minute(30000))]["end"]) == minute(30005)
    for target in ("isl-a", "isl-b"):
        charged = found[(target, minute(20000))]
        assert charged["charged_to"] == "hq" and charged["charged_to_parent"] is True
        assert instant(charged["end"]) == minute(20060)
    own = found[("hq-gw", minute(20000))]
    assert own["charged_to_parent"] is False and own["duration_s"] == 3600
    gap = found[("isl-b", minute(9990))]
    assert (gap["end"], gap["ended_by"], gap["duration_s"]) == (None, "data gap", 600)
    ongoing = found[("hq-dns", minute(43190))]
    assert (ongoing["end"], ongoing["ended_by"]) == (None, "ongoing")
    # flaps are not outages
    assert ("isl-a", minute(6000)) not in found and ("hq-dns", minute(15000)) not in found


def test_latency_matches_a_direct_computation(rows_of):
    import numpy as np

    rows = by_target(rows_of["latency"])
    for target in SITES:
        ok = [m for m in range(MINUTES) if m not in AGENT_DOWN and m not in FAILED[target]]
        rtts = np.sort(np.array([rtt(target, m) for m in ok]))
        row = rows[target]
        assert row["rtt_median_ms"] == pytest.approx(float(np.median(rtts)), abs=1e-3)
        # nearest rank: the value at floor(0.95 n + 0.5) - 1
        assert row["rtt_p95_ms"] == pytest.approx(
            float(rtts[int(np.floor(0.95 * len(rtts) + 0.5)) - 1]), abs=1e-3)
        sent = 5 * (MINUTES - len(AGENT_DOWN))
        lost = 5 * len(FAILED[target]) + (sum(1 for m in ok if m % 100 == 0)
                                          if target == "solo" else 0)
        assert row["loss_pct"] == pytest.approx(100 * lost / sent, abs=1e-3)
        assert row["jitter_ms"] == pytest.approx(float(np.mean([(m % 5) * 0.1 for m in ok])),
                                                 abs=1e-3)


def test_every_backend_gives_the_same_rows(answered):
    for verb in ("uptime", "outages", "latency"):
        assert_same_rows(answered["local"][verb], answered["influx"][verb])
        assert_same_rows(answered["local"][verb], answered["victoria"][verb])


def test_site_filter_still_sees_the_parent(month, backend):
    rows = answers.uptime(month[0], backend, Selection(T0, UNTIL, sites=("island",)))
    assert {r["target"] for r in rows} == {"isl-a", "isl-b", None}
    assert by_target(rows)["isl-a"]["unreachable_s"] == 3600


def test_cli_uptime_json_with_local_dates_in_the_config_zone(month):
    config = month[0]
    runner = CliRunner()
    # 2026-09-01 00:00 in Asia/Ho_Chi_Minh is 2026-08-31T17:00Z: the first 7 h are empty
    result = runner.invoke(main, ["uptime", "-c", str(config.source), "--since", "2026-09-01",
                                  "--until", "2026-10-01T00:00:00Z", "--target", "solo",
                                  "--format", "json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    solo = by_target(rows)["solo"]
    assert set(solo) >= {"site", "target", "availability_pct", "coverage_pct", "downtime_s",
                         "outages", "flaps", "mttr_s", "mtbf_s"}
    assert solo["coverage_pct"] == pytest.approx(100 * 43080 / (43200 + 7 * 60), abs=0.005)


def test_cli_exit_codes(month, tmp_path):
    config, _spool, server, _db = month
    runner = CliRunner()
    base = ["-c", str(config.source), "--since", "2026-09-01T00:00:00Z",
            "--until", "2026-10-01T00:00:00Z"]
    assert runner.invoke(main, ["outages", *base, "--local"]).exit_code == 0
    nothing = runner.invoke(main, ["latency", "-c", str(config.source), "--since",
                                   "2025-09-01T00:00:00Z", "--until", "2025-10-01T00:00:00Z"])
    assert nothing.exit_code == 1
    bad = runner.invoke(main, ["uptime", "-c", str(config.source), "--since", "yesterday"])
    assert bad.exit_code == 2 and "--since 'yesterday'" in bad.output
    # an InfluxDB that does not answer: exit 3, naming the url and suggesting --local
    dead = Path(tmp_path / "dead.yaml")
    dead.write_text(config.source.read_text().replace(server.url, "http://127.0.0.1:9"))
    down = runner.invoke(main, ["uptime", "-c", str(dead), "--since", "1d"])
    assert down.exit_code == 3
    assert "127.0.0.1:9" in down.output and "--local" in down.output


def test_maintenance_is_left_out_the_same_way_from_both_backends_and_in_the_report(month):
    """A window on the island site over isl-a's first outage (minutes 5000–5029), and one for
    every check over the agent's stop (10000–10119): both backends give identical rows."""
    import dataclasses
    import datetime as dt

    from linkwatch.agent.config.maintenance import MaintenanceWindow
    from linkwatch.agent.report.collect import build
    from linkwatch.agent.report.generate import render

    config, spool, _server, _db = month

    def local(m: int) -> str:
        return dt.datetime.fromtimestamp((T0 + m * MIN) / 1e9, config.tz).strftime(
            "%Y-%m-%d %H:%M")

    windowed = dataclasses.replace(config, maintenance=(
        MaintenanceWindow(name="cable", sites=("island",), start=local(5000),
                          end=local(5030)),
        MaintenanceWindow(name="upgrade", start=local(10000), end=local(10120))))
    backends = {"influx": InfluxBackend(config.outputs[0]), "local": LocalBackend(spool)}
    rows = {name: answers.uptime(windowed, b, SEL) for name, b in backends.items()}
    assert rows["influx"] == rows["local"]
    plain = by_target(answers.uptime(config, backends["local"], SEL))
    a, before = by_target(rows["local"])["isl-a"], plain["isl-a"]
    assert a["maintenance_s"] == (30 + 120) * 60
    assert (before["unknown_s"], a["unknown_s"]) == (120 * 60, 0)
    assert a["downtime_s"] == before["downtime_s"] - 30 * 60
    assert (before["outages"], a["outages"]) == (2, 1)
    assert by_target(rows["local"])["solo"]["maintenance_s"] == 120 * 60
    assert by_target(rows["local"])["solo"]["coverage_pct"] == 100.0
    for name, b in backends.items():
        html = render(build(windowed, b, SEL), lang="vi", fmt="html").decode()
        assert "Bảo trì (không tính)" in html, name
        # a site's figure sums its targets' times: two island targets, 2 h 30 min each
        assert "island: 5 giờ trong các khung giờ bảo trì" in html, name


@pytest.mark.parametrize("local", [False, True])
def test_cli_top_ranks_the_worst_sites_first(month, local):
    config = month[0]
    args = ["top", "-c", str(config.source), "--since", "2026-09-01T00:00:00Z",
            "--until", "2026-10-01T00:00:00Z", "--format", "json", *(["--local"] * local)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    sites = [r for r in json.loads(result.stdout) if r["kind"] == "site"]
    # hq lost 132 target-minutes of 86,160, island 48 of 86,040 (its 120 unreachable
    # minutes are hq's), solo none
    assert [(r["rank"], r["site"]) for r in sites] == [(1, "hq"), (2, "island"), (3, "solo")]
    assert sites[0]["measure"] == "availability_pct"
    assert sites[0]["value"] == pytest.approx(100 * (86160 - 132) / 86160, abs=0.005)
    assert sites[1]["value"] == pytest.approx(100 * (86040 - 48) / 86040, abs=0.005)
    limited = CliRunner().invoke(main, [*args, "--limit", "1"])
    assert [r["site"] for r in json.loads(limited.stdout) if r["kind"] == "site"] == ["hq"]


@pytest.mark.parametrize("verb", ["uptime", "outages", "latency"])
def test_cli_csv_holds_the_same_rows_as_json(month, verb):
    import csv
    import io

    config = month[0]
    base = [verb, "-c", str(config.source), "--since", "2026-09-01T00:00:00Z",
            "--until", "2026-10-01T00:00:00Z", "--local"]
    as_json = json.loads(CliRunner().invoke(main, [*base, "--format", "json"]).stdout)
    result = CliRunner().invoke(main, [*base, "--format", "csv"])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert len(rows) == len(as_json) > 0
    columns = {"uptime": answers.UPTIME_COLUMNS, "outages": answers.OUTAGE_COLUMNS,
               "latency": answers.LATENCY_COLUMNS}[verb]
    assert tuple(rows[0]) == columns  # the verb's columns, as the table shows them
    for row, expected in zip(rows, as_json, strict=True):
        for key in columns:
            value, cell = expected[key], row[key]
            if value is None:
                assert cell in ("", "-"), (key, cell)
            elif isinstance(value, bool):
                assert cell.lower() == str(value).lower(), (key, cell)
            elif isinstance(value, int | float):  # at least to the table's 2 decimals
                assert float(cell) == pytest.approx(value, abs=0.005), (key, cell)
            else:
                assert cell == str(value), (key, cell)
