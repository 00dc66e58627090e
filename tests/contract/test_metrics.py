"""Every probe against its real server, and every point it writes held to its metrics table
(`collector/<probe>/metrics.csv`, `agent/daemon/metrics.csv`; docs/data-model.md is generated
from them).

The points are the agent's own: a config file loaded by `load_config`, its checks opened by
the daemon's wiring (`open_checks`), run by the scheduler's `run_once`, which adds the
`agent` and `site` tags, committed to a real spool and read back from it, that is decoded
from the line protocol InfluxDB is sent. The servers:

- ping: 127.0.0.1;
- snmp: the session's snmpd (this host's `lo`, and another of its interfaces as a site's
  uplink; user OIDs: a scalar number, a string, and a table column with a rate), the
  session's snmpsim serving the recording of a real Huawei S12704 (56 interfaces, two with
  an alias) and the project's recordings of a MikroTik radio router and an APC Smart-UPS
  (their profiles, picked by sysObjectID, write `radio`, `sensor` and `power`), and a
  device that never answers (a UDP socket nobody reads);
- host: this machine;
- path: a trace toward 127.0.0.1 by the tracer the ping checks use, tagged as the ping
  check's points are (the agent traces only on a change of state, which no loopback target
  makes: tests/integration/test_path_netns.py cuts real links for that);
- the agent's `linkwatch` point, from the spool above once an output has acknowledged a
  write (the acknowledgement is made as the shipper makes it after a 2xx).

A tag or field not in the table fails, so does a value of another type than the table's, a
point without a tag or field the table never lets be absent, and a row no point shows
(unless the table says, in `untested`, why no server here can make it).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from linkwatch.agent.config import Config, load_config
from linkwatch.agent.daemon.checks import open_checks
from linkwatch.agent.daemon.scheduler import SchedulerCounters, run_once, with_tags
from linkwatch.agent.daemon.service import health_sample
from linkwatch.agent.datamodel.measurements import data_model
from linkwatch.agent.spool import Spool, open_spool
from linkwatch.collector import ProbeContext, ProbeKind, Sample
from linkwatch.collector.metrics import EVERY, probe_metrics
from linkwatch.collector.registry import BUILTIN
from tests.contract.breaches import assert_holds
from tests.servers.process import unavailable
from tests.servers.snmpd import MemoryStore, Snmpd
from tests.servers.snmpsim import Snmpsim

pytestmark = [pytest.mark.integration, pytest.mark.contract]

RECORDING = "network/switch/huawei-s12704"
OUTPUT = "contract"

CONFIG = """\
agent:
  name: contract
  site: lab
  spool: {{path: spool.db, max_size: 64MiB, history: 1d}}
outputs:
  - {{type: influxdb, url: "http://127.0.0.1:8086", name: {output}}}
sites:
  - {{name: lab, capacity: {{down: 100Mbps, up: 20Mbps}}}}
checks:
  ping:
    - {{name: loopback, address: 127.0.0.1, interval: 10s, count: 3}}
  snmp:
    - name: this-host
      address: "{snmpd.host}:{snmpd.port}"
      community: {snmpd.community}
      interval: 10s
      interfaces: {{names: [lo, {uplink}], include_down: true}}
      uplink: {uplink}
      oids:
        - {{field: uptime_ticks, oid: .1.3.6.1.2.1.1.3.0}}
        - {{field: location, oid: .1.3.6.1.2.1.1.6.0}}
        - {{field: in_octets, oid: .1.3.6.1.2.1.2.2.1.10, table: true, rate: true, scale: 0.5}}
    - name: huawei
      address: "{snmpsim.host}:{snmpsim.port}"
      community: {recording}
      interval: 60s
      request_timeout: 10s
      interfaces: {{include_down: true, include_loopback: true}}
    - name: mikrotik
      address: "{snmpsim.host}:{snmpsim.port}"
      community: mikrotik_routeros/1
      interval: 60s
      request_timeout: 10s
      interfaces: {{enabled: false}}
    - name: apc-ups
      address: "{snmpsim.host}:{snmpsim.port}"
      community: apc_smart_ups/1
      interval: 60s
      request_timeout: 10s
      interfaces: {{enabled: false}}
    - name: silent
      address: "127.0.0.1:{silent}"
      interval: 10s
      request_timeout: 300ms
      retries: 0
  host: {{interval: 10s, nics: [lo]}}
"""


@pytest.fixture(scope="module")
def silent_port() -> Iterator[int]:
    """A UDP port where requests arrive and nothing answers."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        yield s.getsockname()[1]


@pytest.fixture(scope="module")
def config(snmpd: Snmpd, snmpsim: Snmpsim, silent_port: int,
           tmp_path_factory: pytest.TempPathFactory) -> Config:
    path = tmp_path_factory.mktemp("contract") / "config.yaml"
    # net-snmp gives `lo` a speed of 10 Mbit/s, which loopback traffic (other tests on this
    # machine) can pass, and a rate over the speed is discarded; the uplink's is not.
    others = sorted((n for _, n in socket.if_nameindex() if n != "lo"), key=_down)
    uplink = others[0] if others else "lo"
    path.write_text(CONFIG.format(output=OUTPUT, snmpd=snmpd, snmpsim=snmpsim,
                                  recording=RECORDING, silent=silent_port, uplink=uplink),
                    encoding="utf-8")
    return load_config(path, environ={})


def _down(nic: str) -> bool:
    state = Path(f"/sys/class/net/{nic}/operstate")
    return not state.exists() or state.read_text().strip() != "up"


@pytest.fixture(scope="module")
def written(config: Config) -> list[Sample]:
    """Two cycles of every check (rates need two), then the agent's health point: every
    point the spool holds afterwards."""
    spool = open_spool(config)
    try:
        counters = asyncio.run(_two_cycles(config, spool))
        batch = spool.next_batch(OUTPUT, 100_000)
        assert batch is not None
        spool.ack(OUTPUT, batch.ids)
        spool.append([health_sample(config, spool, counters)])
        return _everything(spool)
    finally:
        spool.close()


async def _two_cycles(config: Config, spool: Spool) -> SchedulerCounters:
    counters = SchedulerCounters()
    async with contextlib.AsyncExitStack() as stack:
        checks = await open_checks(config, spool, stack)
        await run_once(checks, spool.append, counters)
        await asyncio.sleep(1.1)      # snmpd's counters and sysUpTime move on
        await run_once(checks, spool.append, counters)
    failing = {name: h.last_error for name, h in counters.checks.items() if h.last_error}
    assert failing == {}
    return counters


def _everything(spool: Spool) -> list[Sample]:
    until = time.time_ns() + 10**12
    return [s for m in data_model().measurements() if m != EVERY
            for s in spool.history(m, 0, until)]


@pytest.mark.parametrize("probe", BUILTIN, ids=lambda p: p.kind)
def test_every_point_of_a_probe_holds_to_its_table(written: list[Sample],
                                                   probe: ProbeKind) -> None:
    # `path` has its own test below: the agent traces only on a change of state
    measurements = [m for m in probe_metrics(probe).measurements() if m != "path"]
    assert_holds(written, data_model(), measurements)


def test_the_tags_on_every_point_and_the_agents_own_measurement(written: list[Sample]) -> None:
    assert_holds(written, data_model(), [EVERY, "linkwatch"])


def test_what_the_scenarios_show_beyond_the_table(written: list[Sample]) -> None:
    """The scenarios reach what they are meant to: an alias, a silent device, user OIDs."""
    aliased = {s.tags["if_alias"] for s in written
               if s.measurement == "interface" and "if_alias" in s.tags}
    assert len(aliased) == 2                       # the recording's two aliased ports
    silent = [s.fields for s in written
              if s.measurement == "device" and s.tags["device"] == "silent"]
    assert silent and all(f == {"up": 0} for f in silent)
    user = {name for s in written if s.measurement == "snmp" for name in s.fields}
    assert user == {"uptime_ticks", "location", "in_octets", "in_octets_per_s"}


def test_the_path_point_holds_to_its_table(config: Config) -> None:
    from linkwatch.collector.path.check import PathWatchSettings
    from linkwatch.collector.path.probe import Tracer, unavailable_reason

    reason = unavailable_reason()
    if reason is not None:
        unavailable(reason)
    [ping] = config.checks.of("ping")

    async def trace() -> Sample | None:
        async with contextlib.AsyncExitStack() as stack:
            tracer = Tracer(PathWatchSettings(), asyncio.Semaphore(1),
                            ProbeContext(MemoryStore(), stack))
            return await tracer.sample(ping.name, str(ping.address), "up")

    point = asyncio.run(trace())
    assert point is not None
    tags = {"agent": config.agent.name, "site": ping.site}
    assert config.source is not None
    stored = _through_a_spool(with_tags([point], tags), config.source.parent)
    assert_holds(stored, data_model(), ["path", EVERY])


def _through_a_spool(points: list[Sample], directory: Path) -> list[Sample]:
    spool = Spool.open(directory / "path.db", max_size=2**24, history_s=86400, outputs=[])
    try:
        spool.append(points)
        return list(spool.history("path", 0, time.time_ns() + 10**12))
    finally:
        spool.close()
