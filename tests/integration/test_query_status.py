"""status now: UP, DOWN, UNREACHABLE (parent site down), UNKNOWN (no recent data) and since
when, from a real InfluxDB 1.6.7, a real victoria-metrics and the local history alike."""

from __future__ import annotations

import datetime as dt
import json
import textwrap
import time
import urllib.request

import pytest
from click.testing import CliRunner

from linkwatch.agent.cli import main
from linkwatch.agent.config import load_config
from linkwatch.agent.datamodel.lineprotocol import encode
from linkwatch.agent.spool import Spool
from linkwatch.collector.sample import Sample

pytestmark = pytest.mark.integration
MIN = 60 * 10**9

# minutes ago when each target's state began (None: the state covers all 60 minutes);
# stale-target stopped reporting 30 minutes ago.
PLAN = {
    ("hq", "hq-gw"): (0, 12),      # (up now?, changed minutes ago)
    ("hq", "hq-dns"): (0, 10),
    ("island", "isl-a"): (0, 11),
    ("solo", "solo-gw"): (1, 25),
}


@pytest.fixture(scope="module")
def recent(influxdb, victoria_alone, tmp_path_factory):
    root = tmp_path_factory.mktemp("status")
    now = time.time_ns() // MIN * MIN
    data = []
    for (site, target), (up_now, changed) in PLAN.items():
        for ago in range(60, 0, -1):
            up = up_now if ago <= changed else 1 - up_now
            fields = {"sent": 5, "received": 5 * up, "up": up,
                      **({"rtt_avg_ms": 12.5} if up else {})}
            data.append(Sample("ping", {"site": site, "target": target}, fields,
                               now - ago * MIN))
    data += [Sample("ping", {"site": "solo", "target": "stale"}, {"sent": 5, "received": 5,
                                                                  "up": 1}, now - ago * MIN)
             for ago in range(60, 30, -1)]
    if not influxdb.running:
        influxdb.start()
    influxdb.create_database("query_status")
    request = urllib.request.Request(f"{influxdb.url}/write?db=query_status",
                                     data=b"\n".join(encode(s) for s in data), method="POST")
    urllib.request.urlopen(request, timeout=30).close()
    victoria_alone.write([encode(s) for s in data])
    path = root / "config.yaml"
    path.write_text(textwrap.dedent(f"""\
        agent: {{name: a1, site: hq, spool: {{path: {root / 'spool.db'}}}}}
        outputs: [{{type: influxdb, url: "{influxdb.url}", version: "1",
                    database: query_status}},
                  {{type: victoriametrics, url: "{victoria_alone.url}", name: vm}}]
        sites: [{{name: hq}}, {{name: island, parent: hq}}, {{name: solo}}]
        checks:
          ping:
            - {{name: hq-gw, address: 127.0.0.1, site: hq}}
            - {{name: hq-dns, address: 127.0.0.1, site: hq}}
            - {{name: isl-a, address: 127.0.0.1, site: island}}
            - {{name: solo-gw, address: 127.0.0.1, site: solo}}
            - {{name: stale, address: 127.0.0.1, site: solo}}
        """))
    config = load_config(path)
    spool = Spool.open(config.agent.spool.path, max_size=2**26, history_s=86400, outputs=[])
    spool.append(data)
    spool.close()
    yield config, now
    influxdb.drop_database("query_status")


def instant(text: str) -> int:
    """An ISO 8601 time printed by the CLI (in the config's zone) as ns since the epoch."""
    return int(dt.datetime.fromisoformat(text).timestamp()) * 10**9


@pytest.mark.parametrize("store", [["--local"], [], ["--output", "vm"]],
                         ids=["local", "influx", "victoria"])
def test_states_and_since(recent, store):
    config, now = recent
    args = ["status", "-c", str(config.source), "--since", "2h", "--format", "json"]
    result = CliRunner().invoke(main, args + store)
    assert result.exit_code == 0, result.output
    rows = {r["target"]: r for r in json.loads(result.stdout)}
    assert rows["hq-gw"]["state"] == rows["hq-dns"]["state"] == "DOWN"
    assert rows["isl-a"]["state"] == "UNREACHABLE"
    assert rows["solo-gw"]["state"] == "UP"
    assert rows["stale"]["state"] == "UNKNOWN"
    assert instant(rows["hq-gw"]["since"]) == now - 12 * MIN
    assert instant(rows["solo-gw"]["since"]) == now - 25 * MIN
    assert instant(rows["stale"]["since"]) == now - 30 * MIN
    assert rows["solo-gw"]["rtt_avg_ms"] == 12.5
