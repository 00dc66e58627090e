"""The probes hold to docs/data-model.md: every field they emit is documented with its type,
and every documented field is emitted when the probe can measure it."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import pytest

from linkwatch.agent.config.schema import AgentSettings, Config
from linkwatch.agent.daemon.scheduler import SchedulerCounters
from linkwatch.agent.daemon.service import health_sample
from linkwatch.agent.spool import Spool
from linkwatch.collector import Sample
from linkwatch.collector.host import HostCheck
from linkwatch.collector.ping import PingCheck
from linkwatch.collector.sample import ProbeContext
from linkwatch.collector.snmp import InterfaceSelection, SnmpCheck
from linkwatch.collector.units import Seconds, Secret
from tests.servers.snmpd import MemoryStore, Snmpd

pytestmark = pytest.mark.integration

DOC = Path(__file__).resolve().parents[2] / "docs" / "data-model.md"
PYTHON_TYPE = {"int": int, "float": float, "string": str}


def documented() -> dict[str, dict[str, dict[str, str]]]:
    """measurement → {"tag": {name: ""}, "field": {name: type}} from the doc's table."""
    table: dict[str, dict[str, dict[str, str]]] = {}
    for line in DOC.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 6 and cells[1] in ("tag", "field"):
            measurement, kind, name, type_ = cells[:4]
            table.setdefault(measurement, {"tag": {}, "field": {}})[kind][name] = type_
    return table


def assert_documented(samples: list[Sample], measurement: str, *, complete: bool) -> None:
    doc = documented()[measurement]
    points = [s for s in samples if s.measurement == measurement]
    assert points, f"no {measurement} point"
    seen: set[str] = set()
    for point in points:
        assert set(point.tags) - {"agent", "site"} <= set(doc["tag"]), point.tags
        for name, value in point.fields.items():
            assert name in doc["field"], f"{measurement}.{name} is not in docs/data-model.md"
            expected = PYTHON_TYPE[doc["field"][name]]
            assert type(value) is expected, f"{measurement}.{name}: {type(value).__name__}"
        seen |= set(point.fields)
    if complete:
        assert seen == set(doc["field"]), f"documented but never emitted: " \
            f"{set(doc['field']) - seen}"


async def cycles(module, checks, n: int, gap: float = 1.0) -> list[Sample]:
    out: list[Sample] = []
    async with contextlib.AsyncExitStack() as stack:
        collects = await module.open_probes(checks, ProbeContext(MemoryStore(), stack))
        for i in range(n):
            if i:
                await asyncio.sleep(gap)
            for collect in collects.values():
                out += await collect()
    return out


def test_ping_fields_match_the_doc() -> None:
    from linkwatch.collector.ping import probe

    check = PingCheck(name="lo", address="127.0.0.1", interval=Seconds(2), count=3)
    assert_documented(asyncio.run(cycles(probe, [check], 1)), "ping", complete=True)


def test_host_fields_match_the_doc() -> None:
    from linkwatch.collector.host import probe

    samples = asyncio.run(cycles(probe, [HostCheck(nics=("lo",))], 2))
    assert_documented(samples, "host", complete=True)
    assert_documented(samples, "host_net", complete=True)


def test_snmp_fields_match_the_doc(snmpd: Snmpd) -> None:
    from linkwatch.collector.snmp import probe

    check = SnmpCheck(name="sw", address=snmpd.host, port=snmpd.port,
                      community=Secret(snmpd.community),
                      interfaces=InterfaceSelection(include_loopback=True, include_down=True))

    # The SNMP requests themselves are traffic on `lo`, so it has rates to report.
    samples = asyncio.run(cycles(probe, [check], 2, gap=1.5))
    assert_documented(samples, "device", complete=True)
    assert_documented(samples, "interface", complete=False)
    fields = set().union(*(s.fields for s in samples if s.measurement == "interface"))
    assert {"in_bps", "out_bps", "in_util_pct", "speed_bps"} <= fields


def test_self_measurement_fields_match_the_doc(tmp_path: Path) -> None:
    spool = Spool.open(tmp_path / "spool.db", max_size=2**20 * 8, history_s=3600,
                       outputs=["influxdb:x"])
    try:
        spool.append([Sample("ping", {"target": "t"}, {"up": 1}, 1)])
        batch = spool.next_batch("influxdb:x", 10)
        spool.ack("influxdb:x", batch.ids)
        config = Config(agent=AgentSettings(name="a", site="s"))
        sample = health_sample(config, spool, SchedulerCounters())
    finally:
        spool.close()
    assert_documented([sample], "linkwatch", complete=True)
