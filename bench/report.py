"""How long a month's report for the district example takes from InfluxDB 1.x.

Starts its own influxd (tests/servers/influxdb.py) on a loopback port in a temporary
directory, seeds the demo month (agent.operations.demo) for every site of
docs/examples/district.yaml,
then times the report: gathering (the queries), rendering HTML (charts included), and each
query-layer call on its own for comparison. Prints the figures; asserts nothing.

    python bench/report.py [--month 2026-10]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from linkwatch.agent.config import load_config
from linkwatch.agent.config.schema import InfluxOutput
from linkwatch.agent.operations.demo import seed_output
from linkwatch.agent.query import answers
from linkwatch.agent.query.influx import InfluxBackend
from linkwatch.agent.query.selection import Selection
from linkwatch.agent.query.timerange import Month
from linkwatch.agent.report.collect import build
from linkwatch.agent.report.generate import render
from linkwatch.collector.units import Seconds
from tests.servers.influxdb import start_influxd

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--month", default="2026-10")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-report-") as tmp:
        root = Path(tmp)
        for name in ("influx-district.password", "snmp-community", "snmp-auth.key",
                     "snmp-priv.key"):
            (root / name).write_text("x\n")
        config = load_config(REPO / "docs" / "examples" / "district.yaml", environ={
            "LINKWATCH_INFLUX_TOKEN": "x", "CREDENTIALS_DIRECTORY": str(root)})
        server = start_influxd(root / "influxd")
        try:
            server.create_database("linkwatch")
            output = InfluxOutput(type="influxdb", url=server.url, version="1",
                                  database="linkwatch", timeout=Seconds(120))
            config = dataclasses.replace(config, outputs=(output,))
            month = Month.parse(args.month, config.tz)
            t0 = time.perf_counter()
            count = seed_output(output, config, month)
            seeded = time.perf_counter() - t0
            print(f"seeded {count} points in {seeded:.1f} s "
                  f"({count / seeded:,.0f} points/s)")
            sel = Selection(month.since_ns, month.until_ns)
            backend = InfluxBackend(output)
            for name, call in (
                    ("query layer: uptime analysis", lambda: answers.analysis(
                        config, backend, sel)),
                    ("query layer: bandwidth", lambda: answers.traffic(config, backend, sel)),
                    ("query layer: latency", lambda: backend.latency(sel))):
                t = time.perf_counter()
                call()
                print(f"{name:34s} {time.perf_counter() - t:6.2f} s")
            t = time.perf_counter()
            report = build(config, backend, sel)
            gathered = time.perf_counter() - t
            t = time.perf_counter()
            html = render(report, lang="vi", fmt="html")
            rendered = time.perf_counter() - t
            total = gathered + rendered
            print(f"{'report: gather (all queries)':34s} {gathered:6.2f} s")
            print(f"{'report: render HTML + charts':34s} {rendered:6.2f} s "
                  f"({len(html) / 1e3:.0f} kB)")
            print(f"report for {len(report.sites)} sites, one month: {total:.2f} s "
                  f"(budget 10 s: {'within' if total < 10 else 'OVER'})")
        finally:
            server.stop()


if __name__ == "__main__":
    main()
