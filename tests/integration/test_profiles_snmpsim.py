"""Each shipped profile against its device's recording served by snmpsim, through the real
agent: `linkwatch agent run --once` picks every profile by sysObjectID and writes the
documented points with the recorded values, in the documented units."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections import defaultdict

import pytest

from linkwatch.agent.spool import Spool
from linkwatch.collector.snmp.profiles import shipped_catalog
from linkwatch.collector.snmp.profiles.table import metric_rows
from tests.servers.process import running
from tests.servers.snmpsim import start_snmpsim, stop_snmpsim

pytestmark = pytest.mark.integration

# device name → (recording served by snmpsim, the profile its sysObjectID must select)
DEVICES = {
    "ubiquiti-m5": ("network/wifi/ubiquiti-m5", "ubiquiti-airmax"),
    "eaton-93e": ("UPS/eaton-93e-80", "ups-mib"),
    "apc-pdu": ("UPS/apc-8932", "apc-powernet"),
    "apc-ups": ("apc_smart_ups/1", "apc-powernet"),
    "mikrotik": ("mikrotik_routeros/1", "mikrotik-routeros"),
    "paloalto": ("network/firewall/paloalto-pa-5000", "router-health"),
}
# the others are tests/fixtures/snmprec/ scenarios, which snmpsim serves as well
FROM_SNMPSIM_DATA = ("network/wifi/ubiquiti-m5", "UPS/eaton-93e-80", "UPS/apc-8932",
                     "network/firewall/paloalto-pa-5000")
PYTHON_TYPE = {"int": int, "float": float, "string": str}


@pytest.fixture(scope="module")
def agent_once(tmp_path_factory):
    """One `agent run --once` over every device; its spool's samples by device."""
    root = tmp_path_factory.mktemp("profiles")
    with running(lambda: start_snmpsim(root / "snmpsim", recordings=FROM_SNMPSIM_DATA),
                 stop_snmpsim) as server:
        checks = "".join(
            f"    - {{name: {name}, address: {server.host}, port: {server.port}, "
            f"community: {recording}, request_timeout: 10s, retries: 0}}\n"
            for name, (recording, _) in DEVICES.items())
        config = root / "config.yaml"
        config.write_text(textwrap.dedent("""\
            agent:
              name: a1
              site: quan-lan
              spool: {path: ./spool.db, max_size: 64MiB, history: 1d}
            checks:
              snmp:
            """) + checks, encoding="utf-8")
        run = subprocess.run([sys.executable, "-m", "linkwatch", "agent", "run", "--once",
                              "-c", str(config)], cwd=root, capture_output=True, text=True,
                             timeout=300)
    assert run.returncode == 0, run.stderr
    spool = Spool.open(root / "spool.db", max_size=64 * 2**20, history_s=86400,
                       outputs=None, check=False)
    try:
        by_device = defaultdict(list)
        for measurement in ("radio", "power", "sensor", "device"):
            for s in spool.history(measurement, 0, 2**62):
                by_device[s.tags["device"]].append(s)
    finally:
        spool.close()
    return by_device, run.stderr


def _point(samples, measurement, **tags):
    found = [s for s in samples if s.measurement == measurement
             and {k: v for k, v in s.tags.items() if k not in ("agent", "site", "device")}
             == tags]
    assert len(found) == 1, [dict(s.tags) for s in samples if s.measurement == measurement]
    return found[0].fields


@pytest.mark.parametrize("device", list(DEVICES))
def test_each_device_gets_its_profile_and_every_field_is_in_its_table(agent_once, device):
    by_device, log = agent_once
    samples = by_device[device]
    [status] = [s for s in samples if s.measurement == "device"]
    assert status.fields["up"] == 1
    profile = DEVICES[device][1]
    assert f"snmp {device}: profile {profile}" in log
    catalog = shipped_catalog()
    rows = [r for p in catalog.with_includes(catalog.named(profile)) for r in metric_rows(p)]
    documented = {(r.measurement, r.kind, r.name): r.type for r in rows}
    points = [s for s in samples if s.measurement != "device"]
    assert points
    for s in points:
        for tag in set(s.tags) - {"agent", "site"}:
            assert (s.measurement, "tag", tag) in documented
        for name, value in s.fields.items():
            kind = documented[(s.measurement, "field", name)]
            assert type(value) is PYTHON_TYPE[kind], (s.measurement, name, value)


def test_recorded_values_in_documented_units(agent_once):
    by_device, _ = agent_once
    radio = _point(by_device["ubiquiti-m5"], "radio", radio="1")
    assert (radio["signal_dbm"], radio["noise_dbm"], radio["ccq_pct"]) == (-64.0, -101.0, 99.0)
    assert radio["tx_rate_bps"] == 162_000_000.0              # 162000 kbit/s recorded
    ups = _point(by_device["eaton-93e"], "power")
    assert (ups["on_battery"], ups["charge_pct"], ups["minutes_left"]) == (0, 100.0, 1092.0)
    assert _point(by_device["eaton-93e"], "power", line="1")["input_voltage_v"] == 227.0
    assert _point(by_device["apc-pdu"], "power", phase="1")["current_a"] == 1.4
    apc = _point(by_device["apc-ups"], "power")
    assert (apc["on_battery"], apc["minutes_left"], apc["input_voltage_v"]) == (0, 31.0, 228.0)
    board = _point(by_device["mikrotik"], "sensor", sensor="board")
    assert (board["voltage_v"], board["temperature_c"]) == (24.1, 37.0)
    lte = _point(by_device["mikrotik"], "radio", interface="2", mode="lte")
    assert lte["rsrp_dbm"] == -95.0
    hot = _point(by_device["paloalto"], "sensor", entity="13",
                 sensor="Temperature @ Jaguar [U172]")
    assert hot == {"temperature_c": 34.0}
