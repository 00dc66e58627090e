"""End to end, across a link this test builds: an island's UPS goes on battery, the battery
runs flat and the island falls silent, then mains power comes back — and the agent on the
district side records it, `outages` calls it a power cut, `power` counts it and the report
shows it.

    district namespace (the agent) 10.78.0.1 ── veth ── 10.78.0.2 island namespace (snmpsim)

The island's devices are snmpsim recordings: the radio is snmpsim-data's ubiquiti-m5, the
UPS is tests/fixtures/snmprec/ups_on_battery/, stepped mains → battery → mains by replacing
the served file between cycles (snmpsim reads a recording again when its file changes). The
power cut itself is the veth taken down. Every wait is for a condition the spool shows.
"""

from __future__ import annotations

import bz2
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest

from linkwatch.agent.spool import Spool
from tests.faults.harness import wait_for
from tests.netns import ip, namespace, require_ip, run
from tests.servers.process import start_logged, stop_process, unavailable, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.netns]

REPO = Path(__file__).resolve().parents[2]
STEPS = REPO / "tests" / "fixtures" / "snmprec" / "ups_on_battery"
DISTRICT_IP, ISLAND_IP = "10.78.0.1", "10.78.0.2"   # exist only inside the test's namespaces


def serve(recording: Path, step: int, turn: int) -> None:
    """Replace the served UPS recording with `step`, atomically, with a newer mtime."""
    staged = recording.with_suffix(".tmp")
    shutil.copyfile(STEPS / f"{step}.snmprec", staged)
    os.replace(staged, recording)
    now = time.time() + turn          # a whole second later each turn: snmpsim compares
    os.utime(recording, (now, now))   # mtimes in seconds


@pytest.fixture
def island(tmp_path):
    require_ip()
    snmpsim_data = pytest.importorskip("snmpsim_data")
    if shutil.which("snmpget") is None:
        unavailable("snmpget not found (install the Debian package snmp)")
    tag = uuid.uuid4().hex[:6]
    with namespace(f"lw-dist-{tag}") as district, namespace(f"lw-isle-{tag}") as isle:
        ip(district, "link", "add", "veth-d", "type", "veth", "peer", "name", "veth-i",
           "netns", isle)
        ip(district, "addr", "add", f"{DISTRICT_IP}/30", "dev", "veth-d")
        ip(isle, "addr", "add", f"{ISLAND_IP}/30", "dev", "veth-i")
        ip(district, "link", "set", "veth-d", "up")
        ip(isle, "link", "set", "veth-i", "up")
        data = tmp_path / "snmpsim" / "data" / "island"
        data.mkdir(parents=True)
        packed = Path(snmpsim_data.__file__).parent / "data" / "network" / "wifi"
        (data / "radio.snmprec").write_bytes(
            bz2.decompress((packed / "ubiquiti-m5.snmprec.bz2").read_bytes()))
        serve(data / "ups.snmprec", 1, 0)
        log = tmp_path / "snmpsim.log"
        responder = start_logged(
            ["ip", "netns", "exec", isle, sys.executable, "-m", "snmpsim.commands.responder",
             f"--data-dir={data.parent}", f"--cache-dir={tmp_path / 'snmpsim' / 'cache'}",
             f"--agent-udpv4-endpoint={ISLAND_IP}:161", f"--logging-method=file:{log}",
             "--log-level=error"], log, env={**os.environ, "SNMPSIM_ALLOW_ROOT": "true"})

        def answers(community: str) -> bool:
            got = run(["ip", "netns", "exec", district, "snmpget", "-v2c", "-c", community,
                       "-t", "5", "-r", "0", "-On", f"udp:{ISLAND_IP}:161",
                       ".1.3.6.1.2.1.1.2.0"],
                      env={**os.environ, "MIBS": "",
                           "SNMP_PERSISTENT_DIR": str(tmp_path / "snmp")})
            return got.returncode == 0

        try:
            wait_until(lambda: answers("island/ups") and answers("island/radio"), responder,
                       f"snmpsim on {ISLAND_IP}:161 in {isle}", log, 120, every=0.5)
            yield district, data / "ups.snmprec"
        finally:
            stop_process(responder)


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "agent.yaml"
    path.write_text(textwrap.dedent(f"""\
        agent:
          name: district-agent
          site: district
          timezone: Asia/Ho_Chi_Minh
          spool: {{path: ./spool.db, max_size: 64MiB, history: 1d}}
        sites:
          - {{name: district}}
          - {{name: quan-lan, parent: district, description: island}}
        checks:
          ping:
            - {{name: quan-lan-gw, address: {ISLAND_IP}, site: quan-lan, interval: 1s,
               count: 1, path_probe: false}}
          snmp:
            - {{name: quan-lan-ups, address: {ISLAND_IP}, community: island/ups,
               site: quan-lan, interval: 1s, request_timeout: 500ms, retries: 0,
               interfaces: {{enabled: false}}}}
            - {{name: quan-lan-radio, address: {ISLAND_IP}, community: island/radio,
               site: quan-lan, interval: 1s, request_timeout: 500ms, retries: 0,
               interfaces: {{enabled: false}}}}
        """), encoding="utf-8")
    return path


def _series(tmp_path: Path, measurement: str, field: str) -> list:
    """(time, value) of `field` in the agent's spool so far, oldest first."""
    spool = Spool.open(tmp_path / "spool.db", max_size=64 * 2**20, history_s=86400,
                       outputs=None, check=False)
    try:
        return sorted((s.time_ns, s.fields[field]) for s in spool.history(measurement, 0, 2**62)
                      if field in s.fields)
    finally:
        spool.close()


def _count_since(tmp_path: Path, measurement: str, field: str, value, since_ns: int) -> int:
    return sum(1 for t, v in _series(tmp_path, measurement, field) if t >= since_ns
               and v == value)


def linkwatch(district: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", "netns", "exec", district, sys.executable, "-m", "linkwatch",
                           *args], cwd=tmp_path, capture_output=True, text=True, timeout=180)


def test_a_power_cut_on_the_island_is_recorded_counted_and_reported(island, tmp_path):
    district, ups = island
    config = _config(tmp_path)
    agent = subprocess.Popen(["ip", "netns", "exec", district, sys.executable, "-m",
                              "linkwatch", "agent", "run", "-c", str(config)],
                             cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True)
    try:
        start = time.time_ns()
        wait_for(lambda: _count_since(tmp_path, "power", "on_battery", 0, start) >= 3, 60,
                 "the UPS on mains, three cycles")
        wait_for(lambda: _count_since(tmp_path, "radio", "signal_dbm", -64.0, start) >= 1, 30,
                 "the island's radio")
        mains_cut = time.time_ns()
        serve(ups, 2, 1)                                        # mains fails: on battery
        wait_for(lambda: _count_since(tmp_path, "power", "on_battery", 1, mains_cut) >= 4, 60,
                 "the UPS on battery, four cycles")
        flat = time.time_ns()
        ip(district, "link", "set", "veth-d", "down")          # the battery is flat
        wait_for(lambda: _count_since(tmp_path, "ping", "up", 0, flat) >= 5, 60,
                 "the island silent, five cycles")
        serve(ups, 3, 2)                                        # mains back
        ip(district, "link", "set", "veth-d", "up")
        back = time.time_ns()
        wait_for(lambda: _count_since(tmp_path, "power", "on_battery", 0, back) >= 3, 60,
                 "the UPS on mains again, three cycles")
        wait_for(lambda: _count_since(tmp_path, "ping", "up", 1, back) >= 3, 60,
                 "the island answering again")
    finally:
        agent.send_signal(signal.SIGTERM)
        try:
            agent.wait(timeout=30)
        except subprocess.TimeoutExpired:
            agent.kill()
            agent.wait()
    assert agent.returncode == 0, agent.stdout.read() if agent.stdout else ""

    base = ["-c", str(config), "--local", "--since", "1h", "--format", "json"]
    outages = linkwatch(district, tmp_path, "outages", *base)
    assert outages.returncode == 0, outages.stderr
    [outage] = json.loads(outages.stdout)
    assert (outage["target"], outage["cause"]) == ("quan-lan-gw", "power")
    assert "quan-lan-ups on battery" in outage["evidence"]
    assert "silent with the site after running on battery" in outage["evidence"]

    power = linkwatch(district, tmp_path, "power", *base)
    assert power.returncode == 0, power.stderr
    [row] = json.loads(power.stdout)
    assert (row["site"], row["devices"], row["power_events"], row["ran_flat"]) == (
        "quan-lan", "quan-lan-ups", 1, 1)
    assert row["minutes_on_battery"] > 0 and row["lowest_charge_pct"] == 62.0

    report = tmp_path / "report.html"
    done = linkwatch(district, tmp_path, "report", "-c", str(config), "--local", "--since",
                     "1h", "--lang", "en", "-o", str(report))
    assert done.returncode == 0, done.stderr
    html = report.read_text(encoding="utf-8")
    assert "Time on battery" in html and "Hours on battery per day" in html
    assert "quan-lan-ups on battery" in html
    assert "were power cuts; battery run flat: 1 " in html

    # discover, from the district, names the profile the island's UPS would get
    found = linkwatch(district, tmp_path, "discover", "--subnet", "10.78.0.0/30",
                      "--snmp-community", "island/ups", "--config-snippet")
    assert found.returncode == 0, found.stderr
    [line] = [x for x in found.stdout.splitlines() if "version: 2c" in x]
    assert f"address: {ISLAND_IP}," in line and "profile: ups-mib}" in line
