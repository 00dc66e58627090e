"""victoria-metrics as a store, against the real Debian binaries: what the agent writes
there (one metric per numeric field, the tags as labels, no strings), two single nodes both
written (the HA set-up of docs/scale.md), a cluster's URL layout behind vmauth, and an
InfluxDB 1.x database moved over with vmctl. Each time the CLI's answers are compared with
another store's, row for row."""

from __future__ import annotations

import dataclasses
import json
import os
import pty
import subprocess
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from linkwatch.agent.cli import main
from linkwatch.agent.config import load_config
from linkwatch.agent.config.schema import VictoriaOutput
from linkwatch.agent.datamodel.lineprotocol import encode
from linkwatch.agent.outputs.result import Status
from linkwatch.agent.outputs.retention import LimitsUnknown, read_limits
from linkwatch.agent.outputs.victoria import VictoriaWriter
from linkwatch.agent.query.selection import Selection
from linkwatch.agent.query.victoria import VictoriaBackend
from linkwatch.agent.spool import Spool
from linkwatch.collector.sample import Sample
from linkwatch.collector.units import Secret
from tests.integration.rows import assert_same_rows
from tests.integration.test_outputs import deliver
from tests.servers.process import require, running
from tests.servers.victoria import start_victoria
from tests.servers.vmauth import TOKEN

pytestmark = pytest.mark.integration

T0 = 1_793_491_200 * 10**9          # 2026-11-01T00:00:00Z
MIN = 60 * 10**9
MINUTES = 24 * 60
SINCE, UNTIL = "2026-11-01T00:00:00Z", "2026-11-02T00:00:00Z"
DOWN = {"gw": range(300, 330), "dns": range(700, 702)}   # an outage, and a flap


def day(agent: str = "a1") -> list[Sample]:
    """A day of one-minute pings for two targets, and of an uplink's traffic."""
    out = []
    for m in range(MINUTES):
        t = T0 + m * MIN
        for target in ("gw", "dns"):
            up = 0 if m in DOWN[target] else 1
            fields = {"sent": 5, "received": 5 * up, "up": up}
            if up:
                fields |= {"rtt_avg_ms": 10.0 + (m * 7 % 13) / 4, "jitter_ms": (m % 3) / 10}
            out.append(Sample("ping", {"agent": agent, "site": "hq", "target": target,
                                       "address": "127.0.0.1"}, fields, t))
        rate = 1e6 * (1 + (m * 37 % 97) / 10)
        out.append(Sample("interface", {"agent": agent, "site": "hq", "device": "edge",
                                        "if_index": "1", "if_name": "wan", "if_alias": "wan"},
                          {"in_bps": rate, "out_bps": rate / 3, "in_util_pct": rate / 1e6,
                           "out_util_pct": rate / 3e6, "speed_bps": 100_000_000}, t))
    return out


def write_config(root: Path, outputs: list[str]) -> Path:
    path = root / "config.yaml"
    path.write_text("\n".join([
        "agent:",
        "  name: a1",
        "  site: hq",
        f"  spool: {{path: {root / 'spool.db'}, max_size: 64MiB, history: 3650d}}",
        "outputs:", *(f"  - {o}" for o in outputs),
        "sites:",
        "  - {name: hq, capacity: {down: 100Mbps, up: 100Mbps}}",
        "checks:",
        "  ping:",
        "    - {name: gw, address: 127.0.0.1}",
        "    - {name: dns, address: 127.0.0.1}",
        "  snmp:",
        "    - {name: edge, address: 127.0.0.1, uplink: wan}", ""]))
    return path


def answers_of(config_path: Path, store: list[str]) -> dict[str, list[dict]]:
    """Each verb's JSON rows over the day, from the store the options choose."""
    found = {}
    for verb in ("uptime", "outages", "latency", "bandwidth"):
        result = CliRunner().invoke(main, [verb, "-c", str(config_path), "--since", SINCE,
                                           "--until", UNTIL, "--format", "json", *store])
        assert result.exit_code == 0, (verb, store, result.output)
        found[verb] = json.loads(result.stdout)
    return found


def assert_same_answers(a: dict[str, list[dict]], b: dict[str, list[dict]]) -> None:
    assert a["outages"] and a["bandwidth"]
    for verb in a:
        assert_same_rows(a[verb], b[verb])


def open_spool(root: Path, outputs: list[str]) -> Spool:
    return Spool.open(root / "spool.db", max_size=64 * 2**20, history_s=3650 * 86400,
                      outputs=outputs)


# -------------------------------------------------------------------- what is written

def test_a_point_becomes_one_metric_per_numeric_field_and_strings_stay_local(victoria_alone,
                                                                            tmp_path):
    output = VictoriaOutput(type="victoriametrics", url=victoria_alone.url, name="vm")
    spool = open_spool(tmp_path, ["vm"])
    trace = Sample("path", {"agent": "w1", "site": "hq", "target": "gw"},
                   {"reached": 0, "hop_count": 3, "hops": "1 192.0.2.1 1ms; 2-3 * *",
                    "last_hop": 1, "last_hop_address": "192.0.2.1", "trigger": "down"},
                   T0 + 5 * MIN)
    pings = [s for s in day("w1")[:20] if s.measurement == "ping"]
    spool.append([*pings, trace])
    deliver(spool, output)
    series = victoria_alone.wait_for('{agent="w1"}', lambda found: len(found) >= 9)
    names = {s["metric"]["__name__"] for s in series}
    assert {"ping_sent", "ping_received", "ping_up", "ping_rtt_avg_ms",
            "path_reached", "path_hop_count", "path_last_hop"} <= names
    # a string's text is not stored (victoria-metrics keeps a 0 in its place)
    hops = next(s for s in series if s["metric"]["__name__"] == "path_hops")
    assert hops["values"] == [0]
    # and no `db` label, which a /write?db= would add
    up = next(s for s in series if s["metric"]["__name__"] == "ping_up"
              and s["metric"]["target"] == "gw")
    assert up["metric"] == {"__name__": "ping_up", "agent": "w1", "site": "hq",
                            "target": "gw", "address": "127.0.0.1"}
    assert up["timestamps"][:2] == [T0 // 10**6, (T0 + MIN) // 10**6]
    # the trace keeps its hops in the agent's own history, and the store does not pretend
    kept = list(spool.history("path", T0, T0 + MIN * 10))
    assert kept[0].fields["hops"] == "1 192.0.2.1 1ms; 2-3 * *"
    vm = VictoriaBackend(output)
    assert vm.points("path", Selection(T0, T0 + 10 * MIN)) == []
    spool.close()


# ------------------------------------------------------------ HA: two single nodes

def test_two_single_nodes_written_both_answer_alike_after_one_was_down(tmp_path):
    """One node stops for part of the day: its queue waits in the spool, and once it is
    back both nodes hold everything and give the answers of the agent's own history."""
    with running(lambda: start_victoria(tmp_path / "a"), lambda s: s.stop()) as a, \
            running(lambda: start_victoria(tmp_path / "b"), lambda s: s.stop()) as b:
        path = write_config(tmp_path, [
            f'{{type: victoriametrics, url: "{a.url}", name: vm-a}}',
            f'{{type: victoriametrics, url: "{b.url}", name: vm-b}}'])
        config = load_config(path)
        out_a, out_b = config.outputs
        spool = open_spool(tmp_path, ["vm-a", "vm-b"])
        data = day()
        half = len(data) // 2
        spool.append(data[:half])
        deliver(spool, out_a)
        deliver(spool, out_b)
        b.stop()
        spool.append(data[half:])
        deliver(spool, out_a)
        waiting = {o.output: o.queued for o in spool.stats().outputs}
        assert waiting == {"vm-a": 0, "vm-b": len(data) - half}
        b.start()
        deliver(spool, out_b)
        spool.close()
        a.flush()
        b.flush()
        local = answers_of(path, ["--local"])
        assert_same_answers(local, answers_of(path, ["--output", "vm-a"]))
        assert_same_answers(local, answers_of(path, ["--output", "vm-b"]))


# ------------------------------------------------------- a cluster's URLs (vmauth)

def test_cluster_urls_write_to_insert_and_read_from_select(cluster_layout, tmp_path):
    layout = cluster_layout
    output = (f'{{type: victoriametrics, insert_url: "{layout.url}", select_url: '
              f'"{layout.url}", tenant: "{layout.tenant}", token: {TOKEN}, name: cluster}}')
    path = write_config(tmp_path, [output])
    config = load_config(path)
    vm = config.outputs[0]
    assert vm.write_url == f"{layout.url}/insert/42:1/influx/write"
    assert vm.read_url == f"{layout.url}/select/42:1/prometheus"
    spool = open_spool(tmp_path, ["cluster"])
    data = day()
    spool.append(data)
    deliver(spool, vm)
    spool.close()
    backend = VictoriaBackend(vm)
    deadline = time.monotonic() + 60
    while True:     # vmagent forwards in the background: wait until all of it is there
        layout.flush()
        rows = backend.latency(Selection(T0, T0 + MINUTES * MIN))
        if sum(r.samples for r in rows) == 2 * MINUTES or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert_same_answers(answers_of(path, ["--local"]), answers_of(path, []))
    # retention cannot be read through vminsert/vmselect: said, not guessed
    with pytest.raises(LimitsUnknown, match="cluster"):
        read_limits(vm)


def test_a_refused_token_keeps_the_points_queued_instead_of_setting_them_aside(
        cluster_layout):
    output = VictoriaOutput(type="victoriametrics", insert_url=cluster_layout.url,
                            select_url=cluster_layout.url, tenant=cluster_layout.tenant,
                            token=Secret("not-the-token"))
    writer = VictoriaWriter(output)
    try:
        result = writer.write(encode(day()[0]))
    finally:
        writer.close()
    # vmauth says 400 for a token it does not know: an admin must act, the batch is fine
    assert result.status is Status.FATAL and result.http_status == 400


# ------------------------------------------------------------ migration: vmctl influx

def test_vmctl_moves_an_influxdb_database_and_the_answers_stay(influxdb, influx_db,
                                                               tmp_path):
    vmctl = require("vmctl", "the Debian package victoria-metrics")
    lines = [encode(s) for s in day("migrated")]
    for i in range(0, len(lines), 5000):
        influxdb_write(influxdb, influx_db, lines[i:i + 5000])
    with running(lambda: start_victoria(tmp_path / "vm"), lambda s: s.stop()) as vm:
        # vmctl 1.79 puts its standard input in raw mode even with -s: give it a terminal
        controller, terminal = pty.openpty()
        try:
            done = subprocess.run(
                [vmctl, "influx", "-s", "--influx-addr", influxdb.url, "--influx-database",
                 influx_db, "--vm-addr", vm.url, "--vm-disable-progress-bar"],
                stdin=terminal, capture_output=True, text=True, timeout=300, check=False)
        finally:
            os.close(terminal)
            os.close(controller)
        assert done.returncode == 0, done.stdout + done.stderr
        vm.flush()
        path = write_config(tmp_path, [
            f'{{type: influxdb, url: "{influxdb.url}", version: "1", database: {influx_db}}}',
            f'{{type: victoriametrics, url: "{vm.url}", name: vm}}'])
        assert_same_answers(answers_of(path, []), answers_of(path, ["--output", "vm"]))


def influxdb_write(server, db: str, lines: list[bytes]) -> None:
    import urllib.request

    request = urllib.request.Request(f"{server.url}/write?db={db}", data=b"\n".join(lines),
                                     method="POST")
    with urllib.request.urlopen(request, timeout=60) as response:
        assert response.status == 204


# ------------------------------------------------ series that changed their tags mid-way

def test_a_target_with_two_series_answers_as_the_local_history(victoria_alone, tmp_path):
    """The agent was renamed at noon (two series for one target and one interface), and the
    echoes per cycle changed: each is read raw and reduced as the local history does."""
    data = []
    for s in day("before-rename"):
        t = s.time_ns
        agent = "before-rename" if t < T0 + MINUTES * MIN // 2 else "after-rename"
        fields = dict(s.fields)
        if s.measurement == "ping" and t >= T0 + 600 * MIN and "received" in fields:
            fields["sent"], fields["received"] = 10, 10 * fields["up"]
        data.append(Sample(s.measurement, {**s.tags, "agent": agent, "site": "moved"},
                           fields, t))
    victoria_alone.write([encode(s) for s in data])
    spool = open_spool(tmp_path, [])
    spool.append(data)
    from linkwatch.agent.query.local import LocalBackend

    local = LocalBackend(spool)
    vm = VictoriaBackend(VictoriaOutput(type="victoriametrics", url=victoria_alone.url))
    sel = Selection(T0, T0 + MINUTES * MIN, ("moved",))
    intervals = {"gw": 60.0, "dns": 60.0}
    assert vm.up_series(sel, measurement="ping", tag="target", intervals=intervals) == \
        local.up_series(sel, measurement="ping", tag="target", intervals=intervals)
    assert vm.latency(sel) == local.latency(sel)
    assert vm.loss_while_up(sel) == pytest.approx(local.loss_while_up(sel))
    need = {"edge": 3}
    got = vm.traffic(sel, min_samples_of=need, default_min=3)
    want = local.traffic(sel, min_samples_of=need, default_min=3)
    # victoria-metrics keeps a value to about 15 significant digits
    assert_same_rows([dataclasses.asdict(t) for t in sorted(want, key=lambda t: t.direction)],
                     [dataclasses.asdict(t) for t in sorted(got, key=lambda t: t.direction)])
    spool.close()
