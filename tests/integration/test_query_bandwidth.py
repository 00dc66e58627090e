"""bandwidth on generated counter-derived rates with a planted gap, from a real InfluxDB
1.6.7 and the local history; and names that try to break out of InfluxQL."""

from __future__ import annotations

import math
import textwrap
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
from linkwatch.agent.spool import Spool
from linkwatch.collector.sample import Sample

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


def make_config(root, server, db):
    path = root / "config.yaml"
    path.write_text(textwrap.dedent(f"""\
        agent:
          name: a1
          site: cai-rong
          spool: {{path: {root / 'spool.db'}, max_size: 256MiB, history: 3650d}}
        outputs:
          - {{type: influxdb, url: "{server.url}", version: "1", database: {db}}}
        sites:
          - {{name: cai-rong, capacity: {{down: 10Mbps, up: 4Mbps}}}}
        checks:
          snmp:
            - {{name: edge, address: 127.0.0.1, interval: 60s, uplink: wan}}
        """))
    return load_config(path)


@pytest.fixture(scope="module")
def traffic_data(influxdb, tmp_path_factory):
    root = tmp_path_factory.mktemp("traffic")
    if not influxdb.running:
        influxdb.start()
    influxdb.create_database("query_traffic")
    data = interface_samples()
    write(influxdb, "query_traffic", data)
    config = make_config(root, influxdb, "query_traffic")
    spool = Spool.open(config.agent.spool.path, max_size=2**28, history_s=3650 * 86400,
                       outputs=[])
    spool.append(data)
    yield config, spool
    spool.close()
    influxdb.drop_database("query_traffic")


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


@pytest.mark.parametrize("which", ["influx", "local"])
def test_p95_excludes_the_gap_and_matches_numpy(traffic_data, which):
    config, spool = traffic_data
    backend = InfluxBackend(config.outputs[0]) if which == "influx" else LocalBackend(spool)
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


HOSTILE = ["o'brien", 'say "hi"', "back\\slash", "x'; DROP DATABASE query_names; --",
           "x\\' OR 1=1 --", 'a" OR "b']


def test_names_with_quotes_and_statements_stay_literals(influxdb, tmp_path):
    if not influxdb.running:
        influxdb.start()
    db = "query_names"
    influxdb.create_database(db)
    try:
        data = [Sample("ping", {"site": name, "target": name, "address": "127.0.0.1"},
                       {"up": 1, "sent": 5, "received": 5, "rtt_avg_ms": float(i + 1)},
                       T0 + k * MIN)
                for i, name in enumerate(HOSTILE) for k in range(10)]
        write(influxdb, db, data)
        config = make_config(tmp_path, influxdb, db)
        backend = InfluxBackend(config.outputs[0])
        until = T0 + 10 * MIN
        for i, name in enumerate(HOSTILE):
            rows = answers.latency(config, backend, Selection(T0, until, (name,), (name,)))
            assert [(r["site"], r["target"], r["rtt_median_ms"]) for r in rows] == [
                (name, name, float(i + 1))]
            up = answers.uptime(config, backend, Selection(T0, until, (name,), (name,)))
            assert up[0]["target"] == name and up[0]["availability_pct"] == 100.0
        # a newline cannot be in a stored tag; it is no site of the config, refused as such
        runner = CliRunner()
        result = runner.invoke(main, ["latency", "-c", str(config.source), "--since",
                                      "2026-09-01T00:00:00Z", "--until",
                                      "2026-09-02T00:00:00Z", "--site", "a\n; DROP "
                                      "DATABASE query_names", "--format", "json"])
        assert result.exit_code == 2 and "unknown site 'a\\n; DROP" in result.output
        names = [v[0] for v in influxdb.query("SHOW DATABASES")[0]["series"][0]["values"]]
        assert db in names
    finally:
        influxdb.drop_database(db)
