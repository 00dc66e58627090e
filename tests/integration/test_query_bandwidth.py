"""bandwidth on generated counter-derived rates with a planted gap, from a real InfluxDB
1.6.7, a real victoria-metrics and the local history; and names that try to break out of
InfluxQL or MetricsQL."""

from __future__ import annotations

import math
import urllib.request

import numpy as np
import pytest
from click.testing import CliRunner

from linkwatch.agent.cli import main
from linkwatch.agent.config import load_config
from linkwatch.agent.datamodel.lineprotocol import encode
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
MINUTES = 2 * 1440
GAP = range(1000, 1180)            # three hours with no valid rate (link cut, counters reset)
SHORT = {1500, 1501, 1502}         # a window that keeps only 2 of its 5 polls: not valid
DOWN_BPS, UP_BPS = 10e6, 4e6       # contracted capacity of the uplink


def rate(m: int, direction: str) -> float:
    base = DOWN_BPS if direction == "in" else UP_BPS
    return base * (0.2 + 0.75 * ((m * 37 + (5 if direction == "out" else 0)) % 101) / 100)


def interface_samples() -> list[Sample]:
    out = []
    for m in range(MINUTES):
        fields: dict[str, float | int] = {"in_octets": m * 1000, "out_octets": m * 500,
                                          "speed_bps": 100_000_000}
        if m not in GAP and m not in SHORT:
            for d, cap in (("in", DOWN_BPS), ("out", UP_BPS)):
                fields[f"{d}_bps"] = rate(m, d)
                fields[f"{d}_util_pct"] = 100.0 * rate(m, d) / cap
        out.append(Sample("interface", {"agent": "a1", "site": "cai-rong", "device": "edge",
                                        "if_index": "2", "if_name": "ge-0/0/1",
                                        "if_alias": "wan"}, fields, T0 + m * MIN))
    return out


def write(server, db: str, data: list[Sample]) -> None:
    body = b"\n".join(encode(s) for s in data)
    request = urllib.request.Request(f"{server.url}/write?db={db}", data=body, method="POST")
    with urllib.request.urlopen(request, timeout=60) as response:
        assert response.status == 204


def make_config(root, server, db, victoria=None):
    path = root / "config.yaml"
    outputs = [f'  - {{type: influxdb, url: "{server.url}", version: "1", database: {db}}}']
    if victoria is not None:
        outputs.append(f'  - {{type: victoriametrics, url: "{victoria.url}"}}')
    path.write_text("\n".join([
        "agent:",
        "  name: a1",
        "  site: cai-rong",
        f"  spool: {{path: {root / 'spool.db'}, max_size: 256MiB, history: 3650d}}",
        "outputs:", *outputs,
        "sites:",
        "  - {name: cai-rong, capacity: {down: 10Mbps, up: 4Mbps}}",
        "checks:",
        "  snmp:",
        "    - {name: edge, address: 127.0.0.1, interval: 60s, uplink: wan}", ""]))
    return load_config(path)


@pytest.fixture(scope="module")
def traffic_data(influxdb, victoria_alone, tmp_path_factory):
    root = tmp_path_factory.mktemp("traffic")
    if not influxdb.running:
        influxdb.start()
    influxdb.create_database("query_traffic")
    data = interface_samples()
    write(influxdb, "query_traffic", data)
    victoria_alone.write([encode(s) for s in data])
    config = make_config(root, influxdb, "query_traffic", victoria_alone)
    spool = Spool.open(config.agent.spool.path, max_size=2**28, history_s=3650 * 86400,
                       outputs=[])
    spool.append(data)
    yield config, spool
    spool.close()
    influxdb.drop_database("query_traffic")


BACKENDS = ["influx", "local", "victoria"]


def open_(which, config, spool):
    if which == "influx":
        return InfluxBackend(config.outputs[0])
    if which == "victoria":
        return VictoriaBackend(config.outputs[1])
    return LocalBackend(spool)


def expected(direction: str) -> dict[str, float]:
    """The definition, computed independently: 5-minute windows with ≥ 3 valid rates."""
    windows: dict[int, list[float]] = {}
    for m in range(MINUTES):
        if m not in GAP and m not in SHORT:
            windows.setdefault(m // 5, []).append(rate(m, direction))
    valid = [np.mean(v) for _, v in sorted(windows.items()) if len(v) >= 3]
    cap = DOWN_BPS if direction == "in" else UP_BPS
    ordered = np.sort(valid)
    return {
        "windows": len(valid),
        # nearest rank, as InfluxDB's percentile(): numpy's "inverted_cdf" is the same rank
        # except on exact ties of 0.95·n, which this data avoids
        "p95_bps": float(np.percentile(valid, 95, method="inverted_cdf")),
        "p95_rank": float(ordered[math.floor(0.95 * len(valid) + 0.5) - 1]),
        "mean_bps": float(np.mean(valid)),
        "above_70": int(sum(1 for v in valid if 100 * v / cap > 70)),
        "above_80": int(sum(1 for v in valid if 100 * v / cap > 80)),
    }


@pytest.mark.parametrize("which", BACKENDS)
def test_p95_excludes_the_gap_and_matches_numpy(traffic_data, which):
    config, spool = traffic_data
    backend = open_(which, config, spool)
    rows = answers.bandwidth_rows(config, backend, Selection(T0, T0 + MINUTES * MIN))
    assert [r["direction"] for r in rows] == ["in", "out"]
    for row in rows:
        want = expected(row["direction"])
        assert row["uplink"] is True
        assert row["windows"] == want["windows"] == MINUTES // 5 - len(GAP) // 5 - 1
        assert row["p95_bps"] == pytest.approx(want["p95_rank"], abs=0.1)
        assert row["p95_bps"] == pytest.approx(want["p95_bps"], abs=0.1)
        assert row["mean_bps"] == pytest.approx(want["mean_bps"], abs=0.1)
        assert row["minutes_above_70"] == 5 * want["above_70"]
        assert row["minutes_above_80"] == 5 * want["above_80"]
        cap = DOWN_BPS if row["direction"] == "in" else UP_BPS
        assert row["capacity_bps"] == cap
        assert row["util_p95_pct"] == pytest.approx(100 * want["p95_bps"] / cap, abs=1e-3)
        assert row["coverage_pct"] == pytest.approx(100 * want["windows"] / (MINUTES // 5),
                                                    abs=1e-3)
        assert row["insufficient"] is False


# A period that starts and ends off the 5-minute and hourly grids: partial windows at
# both ends.
ODD = Selection(T0 + 7 * MIN + 13 * 10**9, T0 + (MINUTES - 3) * MIN - 500 * 10**6)


@pytest.mark.parametrize("period", [Selection(T0, T0 + MINUTES * MIN), ODD],
                         ids=["aligned", "off-grid"])
def test_every_backend_gives_the_same_rows(traffic_data, period):
    config, spool = traffic_data
    rows = {which: answers.bandwidth_rows(config, open_(which, config, spool), period)
            for which in BACKENDS}
    assert len(rows["local"]) == 2
    assert_same_rows(rows["local"], rows["influx"])
    assert_same_rows(rows["local"], rows["victoria"])
    top = {which: answers.top(config, open_(which, config, spool), period)
           for which in BACKENDS}
    assert_same_rows(top["local"], top["victoria"])


@pytest.mark.parametrize("period", [Selection(T0, T0 + MINUTES * MIN), ODD],
                         ids=["aligned", "off-grid"])
def test_uplink_hours_and_busy_windows_are_the_same_from_every_backend(traffic_data, period):
    from linkwatch.agent.query.uplinks import UplinkQuery

    config, spool = traffic_data
    uplink = config.checks.of("snmp")[0].uplink
    usage = {which: open_(which, config, spool).uplink_usage(
        period, [UplinkQuery(uplink, 3)], 55.0)[(uplink.device, uplink.interface)]
        for which in BACKENDS}
    want = usage["local"]
    assert want.windows_above["in"] and len(want.hourly_bps["in"]) > 40
    for which in ("influx", "victoria"):
        got = usage[which]
        for d in ("in", "out"):
            assert sorted(got.hourly_bps[d]) == sorted(want.hourly_bps[d]), which
            assert all(math.isclose(got.hourly_bps[d][h], v, rel_tol=1e-9)
                       for h, v in want.hourly_bps[d].items())
            assert [t for t, _ in got.windows_above[d]] == [t for t, _ in want.windows_above[d]]
            assert all(math.isclose(a, b, rel_tol=1e-9) for (_, a), (_, b) in
                       zip(got.windows_above[d], want.windows_above[d], strict=True))


HOSTILE = ["o'brien", 'say "hi"', "back\\slash", "x'; DROP DATABASE query_names; --",
           "x\\' OR 1=1 --", 'a" OR "b', 'a.b|c*', '(x)[y]{z}^$', "Quan Lạn", 'x"} or vector(1)']


def write_hostile(server_name, server, db):
    data = [Sample("ping", {"site": name, "target": name, "address": "127.0.0.1"},
                   {"up": 1, "sent": 5, "received": 5, "rtt_avg_ms": float(i + 1)},
                   T0 + k * MIN)
            for i, name in enumerate(HOSTILE) for k in range(10)]
    if server_name == "influx":
        write(server, db, data)
    else:
        server.write([encode(s) for s in data])


@pytest.mark.parametrize("server_name", ["influx", "victoria"])
def test_names_with_quotes_and_statements_stay_literals(server_name, influxdb, victoria_alone,
                                                        tmp_path):
    if not influxdb.running:
        influxdb.start()
    db = "query_names"
    influxdb.create_database(db)
    try:
        server = influxdb if server_name == "influx" else victoria_alone
        write_hostile(server_name, server, db)
        config = make_config(tmp_path, influxdb, db, victoria_alone)
        backend = open_(server_name, config, None)
        until = T0 + 10 * MIN
        for i, name in enumerate(HOSTILE):
            rows = answers.latency(config, backend, Selection(T0, until, (name,), (name,)))
            assert [(r["site"], r["target"], r["rtt_median_ms"]) for r in rows] == [
                (name, name, float(i + 1))]
            up = answers.uptime(config, backend, Selection(T0, until, (name,), (name,)))
            assert up[0]["target"] == name and up[0]["availability_pct"] == 100.0
        # two names at once: a regular expression of both, each character literal
        pair = (HOSTILE[6], HOSTILE[7])
        rows = answers.latency(config, backend, Selection(T0, until, pair, pair))
        assert sorted(r["site"] for r in rows) == sorted(pair)
        # a newline cannot be in a stored tag: no site of the config, refused as such
        runner = CliRunner()
        result = runner.invoke(main, [
            "latency", "-c", str(config.source), "--since", "2026-09-01T00:00:00Z",
            "--until", "2026-09-02T00:00:00Z", "--output",
            config.outputs[0 if server_name == "influx" else 1].queue_name,
            "--site", "a\n; DROP DATABASE query_names", "--site", 'x"} or vector(1) #',
            "--format", "json"])
        assert result.exit_code == 2 and "unknown site 'a\\n; DROP" in result.output
        names = [v[0] for v in influxdb.query("SHOW DATABASES")[0]["series"][0]["values"]]
        assert db in names
    finally:
        influxdb.drop_database(db)
