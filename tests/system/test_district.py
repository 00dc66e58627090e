"""A district in a box: five real agents in network namespaces, links cut and mended, the
central database stopped, an island that carries its data out by hand; then what
linkwatch says about the run is held against what the scenario did.

The district (tests/system/district.py): the district server with the central InfluxDB,
the LAN agent polling the core switch's snmpd, communes c1, c2 and c3 behind links shaped
to 20, 2 and 0.5 Mbit/s (c3 hangs off c2's radio hop), and the island c4 with no link.
Each agent is `linkwatch agent run` with its own spool, pinging every 2 s and polling SNMP
every 5 s. The scenario writes down its ground truth as it goes (`Truth`): when each cut
began and ended, when an agent was killed, what the traffic generator pushed. Durations of
the faults are the scenario's own; everything else waits on conditions.

Checked against the ground truth: outage boundaries within one cycle, availability within
one cycle's share, the parent's outage charged to the parent (children UNREACHABLE, not
DOWN), the saturated link flagged by `bandwidth` and by the report, and not one point lost:
each agent's spool equals what the central store holds for it, the island's carried-out
archive included. The central store here is InfluxDB alone; an agent writing two
victoria-metrics nodes at once, one of them down for a while, is held by
tests/integration/test_victoria.py.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import pytest

from linkwatch.agent.config import load_config
from tests.conftest import SUMMARY
from tests.faults.harness import AgentProcess, drain
from tests.faults.ledger import _same, committed, downstream
from tests.netns import inside, require_ip
from tests.servers.influxdb import InfluxServer
from tests.servers.process import require, stop_process
from tests.servers.snmpd import COMMUNITY, start_snmpd, stop_snmpd
from tests.system import district as box
from tests.system.machine import wait_for

pytestmark = pytest.mark.system

CYCLE_S = box.PING_S
AGENTS = ("district-agent", "c1-agent", "c2-agent", "c3-agent", "c4-agent")
ROLE = {"district-agent": "lan", "c1-agent": "c1", "c2-agent": "c2", "c3-agent": "c3",
        "c4-agent": "c4"}

# The scenario, in seconds from its start. From start to end c1 sends all its link takes
# (iperf3 over TCP); the end comes once every fault is over and one of the 5-minute windows
# the bandwidth figures are made of (aligned to the epoch) holds enough polls to count.
CUT_C3 = (20, 80)            # the c2-c3 link
CUT_C2 = (100, 145)          # c2's radio hop: c2 down, c3 behind it UNREACHABLE
KILL_C2_AGENT = (155, 175)   # SIGKILL, then started again
STOP_DB = (185, 245)         # the central InfluxDB
FAULTS_END = 250
WINDOW_S = 300               # linkwatch.agent.query.bandwidth.WINDOW_S
VALID_S = 165                # a window counts with half of it polled (150 s); a margin


def scenario_length(start_s: float) -> float:
    """Seconds from `start_s` to the end: past FAULTS_END, and long enough that the part
    of one 5-minute window inside the run is VALID_S long (it holds only saturated polls;
    a window polled for less than half its length does not count at all)."""
    to_boundary = WINDOW_S - start_s % WINDOW_S
    if to_boundary >= VALID_S:
        return FAULTS_END
    return max(FAULTS_END, to_boundary + VALID_S)


@dataclass
class Truth:
    """What the scenario did, in ns since the epoch."""

    start_ns: int = 0
    end_ns: int = 0
    cuts: dict[str, tuple[int, int]] = field(default_factory=dict)
    killed: tuple[int, int] = (0, 0)
    db_down: tuple[int, int] = (0, 0)
    pushed_bps: float = 0.0

    def at(self, offset_s: float) -> float:
        """Wall-clock time (s) of a moment of the scenario."""
        return self.start_ns / 1e9 + offset_s


@dataclass
class Usage:
    cpu_s: float = 0.0
    peak_rss: int = 0


@dataclass
class Run:
    truth: Truth
    district: box.District
    influx: InfluxServer
    workdir: Path
    configs: dict[str, Path]
    agents: dict[str, AgentProcess]
    usage: dict[str, Usage]
    imported: str

    def linkwatch(self, *args: str) -> subprocess.CompletedProcess:
        """A query verb as IT staff at the district server would run it."""
        return subprocess.run(
            self.district.exec("srv", sys.executable, "-m", "linkwatch", *args, "-c",
                               str(self.configs["district-agent"])),
            capture_output=True, text=True, timeout=300, check=False, cwd=self.workdir)

    def query(self, verb: str, *args: str) -> list[dict]:
        done = self.linkwatch(verb, "--since", _iso(self.truth.start_ns), "--until",
                              _iso(self.truth.end_ns), "--format", "json", *args)
        assert done.returncode in (0, 1), done.stdout + done.stderr
        return json.loads(done.stdout or "[]")


def _iso(ns: int) -> str:
    return dt.datetime.fromtimestamp(ns / 1e9, dt.UTC).isoformat()


def _ns(text: str | None) -> int | None:
    return None if text is None else int(dt.datetime.fromisoformat(text).timestamp() * 1e9)


def _sleep_until(wall: float) -> None:
    """The scenario's clock: a fault lasts as long as the scenario says."""
    time.sleep(max(0.0, wall - time.time()))


def _sample(agent: AgentProcess, usage: Usage) -> None:
    """Add the agent's CPU time and peak RSS so far (before it is stopped or killed)."""
    process = psutil.Process(agent.process.pid)
    times = process.cpu_times()
    usage.cpu_s += times.user + times.system
    for line in Path(f"/proc/{process.pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            usage.peak_rss = max(usage.peak_rss, int(line.split()[1]) * 1024)


def island_key(config: Path) -> str:
    """`linkwatch keys` on the island: its signing key made, its public half as printed."""
    done = subprocess.run([sys.executable, "-m", "linkwatch", "keys", "-c", str(config)],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return next(line.rsplit(" ", 1)[1] for line in done.stdout.splitlines()
                if line.startswith("public key of agent c4-agent:"))


def carry_in(run_dir: Path, archive: Path, config: Path, district: box.District
             ) -> subprocess.CompletedProcess:
    """`spool import` of the island's archive at the district server, which writes it only
    because the island's key is listed in its config (carry.trusted) and every line is one
    that agent could have written."""
    return subprocess.run(
        district.exec("srv", sys.executable, "-m", "linkwatch", "spool", "import",
                      str(archive), "-c", str(config), "--give-up-after", "60s"),
        capture_output=True, text=True, timeout=300, check=False, cwd=run_dir)


def carry_out(run_dir: Path, config: Path, archive: Path, district: box.District
              ) -> subprocess.CompletedProcess:
    """`spool export --mark-sent` on the island: everything its output never received,
    signed with the island's key."""
    return subprocess.run(
        district.exec("c4", sys.executable, "-m", "linkwatch", "spool", "export", "-c",
                      str(config), "-o", str(archive), "--mark-sent"),
        capture_output=True, text=True, timeout=300, check=False, cwd=run_dir)


@pytest.fixture(scope="module")
def run(as_root, tmp_path_factory) -> Iterator[Run]:
    require_ip()
    iperf3 = require("iperf3", "the Debian package iperf3")
    require("influxd", "the Debian package influxdb")
    require("tc", "the Debian package iproute2")
    work = tmp_path_factory.mktemp("district")
    with box.district() as net, ExitStack() as stack:
        influx = InfluxServer(work / "influxd", host=box.SERVER, port=8086,
                              netns=net.netns["srv"])
        influx.start()
        stack.callback(influx.stop)
        influx.create_database("district")
        snmpd = start_snmpd(work / "snmpd", host=box.SNMP_HOST, port=161,
                            netns=net.netns["core"], clients="10.77.1.0/24")
        stack.callback(stop_snmpd, snmpd)

        configs, agents = {}, {}
        usage = {name: Usage() for name in AGENTS}
        key = None
        for name in reversed(AGENTS):  # the island first: its key goes into the server's
            directory = work / name
            directory.mkdir()
            spool = directory / "spool.db"
            if name == "district-agent":
                text = box.lan_agent(spool, snmpd.port, COMMUNITY, key)
            elif name == "c4-agent":
                text = box.island_agent(spool)
            else:
                text = box.commune_agent(ROLE[name], spool)
            configs[name] = directory / "agent.yaml"
            configs[name].write_text(text)
            if name == "c4-agent":
                key = island_key(configs[name])
            # `ip netns exec` execs the agent itself: process.pid is the agent's
            agents[name] = AgentProcess(configs[name], prefix=tuple(net.exec(ROLE[name])))
        for agent in agents.values():
            agent.start()
            stack.callback(_kill, agent)
        for agent in agents.values():
            agent.wait_started()

        truth = Truth(start_ns=time.time_ns())
        length = scenario_length(truth.start_ns / 1e9)
        server = subprocess.Popen(net.exec("srv", iperf3, "-s", "-1", "-J"),
                                  stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        stack.callback(_end, server)
        wait_for(lambda: _listening(net, 5201), "iperf3 to listen")
        client = subprocess.Popen(
            net.exec("c1", iperf3, "-c", box.SERVER, "-t", f"{length:.0f}", "-J"),
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        stack.callback(_end, client)

        for link, (start, end) in (("c3", CUT_C3), ("c2", CUT_C2)):
            # each moment is taken once the `ip` commands are done: from then on the link
            # is down (or up, its routes back) for certain
            _sleep_until(truth.at(start))
            net.cut(link)
            begun = time.time_ns()
            _sleep_until(truth.at(end))
            net.mend(link)
            truth.cuts[link] = (begun, time.time_ns())

        _sleep_until(truth.at(KILL_C2_AGENT[0]))
        _sample(agents["c2-agent"], usage["c2-agent"])
        killed = time.time_ns()
        agents["c2-agent"].kill()
        _sleep_until(truth.at(KILL_C2_AGENT[1]))
        agents["c2-agent"].start()
        agents["c2-agent"].wait_started()
        truth.killed = (killed, time.time_ns())

        _sleep_until(truth.at(STOP_DB[0]))
        stopped = time.time_ns()
        influx.stop()
        _sleep_until(truth.at(STOP_DB[1]))
        influx.start()
        truth.db_down = (stopped, time.time_ns())

        report, _ = client.communicate(timeout=length + 60)
        truth.pushed_bps = json.loads(report)["end"]["sum_received"]["bits_per_second"]
        server.communicate(timeout=30)
        _sleep_until(truth.at(length))
        truth.end_ns = time.time_ns()

        # Every agent delivers what it collected (the island cannot), then stops.
        for name in AGENTS[:-1]:
            wait_for(lambda name=name: _queued(configs[name]) < 20,
                     f"{name} to deliver its queue", timeout=180, every=1)
        for name, agent in agents.items():
            _sample(agent, usage[name])
            assert agent.stop() == 0, agent.log()[-3000:]
        for name in AGENTS[:-1]:  # what was committed after the last send: the last cycle
            config = load_config(configs[name])
            inside(net.netns["srv"], lambda config=config: drain(config))

        archive = work / "c4.tar"
        exported = carry_out(work, configs["c4-agent"], archive, net)
        assert exported.returncode == 0, exported.stdout + exported.stderr
        imported = carry_in(work, archive, configs["district-agent"], net)
        assert imported.returncode == 0, imported.stdout + imported.stderr

        yield Run(truth, net, influx, work, configs, agents, usage, imported.stdout)


def _kill(agent: AgentProcess) -> None:
    if agent.alive:
        agent.kill()


def _end(process: subprocess.Popen) -> None:
    if process.poll() is None:
        stop_process(process, timeout=5)


def _listening(net: box.District, port: int) -> bool:
    done = subprocess.run(net.exec("srv", "ss", "-Hltn", f"sport = :{port}"),
                          capture_output=True, text=True, check=False)
    return bool(done.stdout.strip())


def _queued(config_path: Path) -> int:
    import sqlite3

    path = config_path.parent / "spool.db"
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10) as db:
        return db.execute("SELECT count(*) FROM queue").fetchone()[0]


# ------------------------------------------------------------------------------ the checks


def test_each_cut_is_one_outage_within_a_cycle_of_the_truth(run: Run, record_property) -> None:
    outages = run.query("outages")
    truth = run.truth
    expected = [  # (site, target, cut, charged to)
        ("c3", "c3-router", "c3", None), ("c3", "district", "c3", None),
        ("c2", "c2-router", "c2", None), ("c2", "district", "c2", None),
        ("c3", "c3-router", "c2", "c2"), ("c3", "district", "c2", "c2"),
    ]
    rows = []
    for site, target, cut, parent in expected:
        begun, mended = truth.cuts[cut]
        found = [o for o in outages if (o["site"], o["target"]) == (site, target)
                 and o["start"] is not None and abs(_ns(o["start"]) - begun) < 30e9]
        assert len(found) == 1, (site, target, cut, outages)
        outage = found[0]
        start, end = _ns(outage["start"]), _ns(outage["end"])
        rows.append((f"{site}/{target} ({cut} cut)", begun, mended, start, end))
        assert outage["ended_by"] == "recovery"
        assert abs(start - begun) <= CYCLE_S * 1e9, (outage, begun)
        assert abs(end - mended) <= CYCLE_S * 1e9, (outage, mended)
        assert outage["charged_to_parent"] is (parent is not None)
        assert outage["charged_to"] == parent
    # nothing else was an outage: not the saturated c1, not the agent killed, not the DB
    assert len(outages) == len(expected), outages
    _table(record_property, run, "outages", rows)


def test_availability_within_one_cycles_share_and_the_parent_is_charged(
        run: Run, record_property) -> None:
    uptime = {(r["site"], r["target"]): r for r in run.query("uptime")}
    truth = run.truth
    c3_cut = (truth.cuts["c3"][1] - truth.cuts["c3"][0]) / 1e9
    c2_cut = (truth.cuts["c2"][1] - truth.cuts["c2"][0]) / 1e9
    expected = {  # (site, target): (down s, unreachable s)
        ("c3", "c3-router"): (c3_cut, c2_cut), ("c3", "district"): (c3_cut, c2_cut),
        ("c2", "c2-router"): (c2_cut, 0.0), ("c2", "district"): (c2_cut, 0.0),
        ("c1", "c1-router"): (0.0, 0.0), ("c1", "district"): (0.0, 0.0),
        ("district-lan", "server"): (0.0, 0.0), ("c4", "loopback"): (0.0, 0.0),
    }
    rows = []
    for key, (down, unreachable) in expected.items():
        row = uptime[key]
        known = row["up_s"] + row["downtime_s"]
        truth_pct = 100.0 * (known - down) / known
        share = 100.0 * CYCLE_S / known
        rows.append((f"{key[0]}/{key[1]}", down, row["downtime_s"], unreachable,
                     row["unreachable_s"], truth_pct, row["availability_pct"]))
        assert abs(row["downtime_s"] - down) <= CYCLE_S, row
        assert abs(row["unreachable_s"] - unreachable) <= CYCLE_S, row
        assert abs(row["availability_pct"] - truth_pct) <= share, row
    # the parent's outage is the parent's: c3 counts its own cut only
    assert uptime[("c3", "c3-router")]["outages"] == 1
    # the killed agent left a gap (UNKNOWN), never downtime: as long as it was away, give
    # or take one cycle at each end (its last cycle before the kill, its first after)
    killed = (truth.killed[1] - truth.killed[0]) / 1e9
    unknown = uptime[("c2", "district")]["unknown_s"]
    assert killed - 2 * CYCLE_S <= unknown <= killed + 3 * CYCLE_S, (unknown, killed)
    _table(record_property, run, "availability", rows)


def test_the_saturated_link_is_flagged_at_the_rate_pushed(run: Run, record_property) -> None:
    rows = {(r["site"], r["direction"]): r for r in run.query("bandwidth")
            if r["uplink"]}
    sent = rows[("c1", "in")]  # at the district end, `in` is what c1 sends
    assert sent["util_p95_pct"] > 80 and sent["minutes_above_80"] >= 5, sent
    # the generator counts TCP payload; the port counts frames (~4% of headers on top)
    assert 0.95 <= sent["p95_bps"] / run.truth.pushed_bps <= 1.12, (sent, run.truth.pushed_bps)
    for key in (("c1", "out"), ("c2", "in"), ("c2", "out")):
        assert rows[key]["util_p95_pct"] < 70, rows[key]
    _table(record_property, run, "bandwidth", [
        ("c1 uplink in", run.truth.pushed_bps, sent["p95_bps"], sent["util_p95_pct"],
         sent["minutes_above_80"])])


def test_the_report_for_the_run_agrees(run: Run) -> None:
    out = run.workdir / "report.zip"
    done = run.linkwatch("report", "--since", _iso(run.truth.start_ns), "--until",
                         _iso(run.truth.end_ns), "--format", "csv", "--lang", "en", "-o",
                         str(out))
    assert done.returncode == 0, done.stdout + done.stderr
    with zipfile.ZipFile(out) as zf:
        tables = {name.removesuffix(".csv"): list(csv.DictReader(io.StringIO(
            zf.read(name).decode()))) for name in zf.namelist()}
    verdicts = {(v["site"], v["key"]) for v in tables["verdicts"]}
    assert ("c1", "uplink_full") in verdicts, tables["verdicts"]
    uptime = {r["site"]: r for r in run.query("uptime") if r["target"] is None}
    for row in tables["availability"]:
        assert float(row["availability_pct"]) == pytest.approx(
            uptime[row["site"]]["availability_pct"], abs=1e-3), row
    charged = [o for o in tables["outages"] if o["site"] == "c3" and o["charged_to"] == "c2"]
    assert charged, tables["outages"]


def test_no_point_is_lost_end_to_end(run: Run, record_property) -> None:
    central = downstream(run.influx, "district", skip_backlog=False)
    rows = []
    for name in AGENTS:
        held = committed(run.configs[name].parent / "spool.db", skip_backlog=False)
        mine = {k: v for k, v in central.items() if ("agent", name) in k[1]}
        lost = [k for k in held if k not in mine]
        extra = [k for k in mine if k not in held]
        differ = [k for k in held if k in mine and not _same(held[k], mine[k])]
        rows.append((name, len(held), len(mine), len(lost), len(extra), len(differ)))
        assert not lost and not extra and not differ, (name, lost[:3], extra[:3], differ[:3])
    assert "c4-agent" in run.imported and "Traceback" not in run.imported
    _table(record_property, run, "ledger", rows)


def test_each_agents_cpu_and_peak_memory_are_recorded(run: Run, record_property) -> None:
    period = (run.truth.end_ns - run.truth.start_ns) / 1e9
    rows = [(name, u.cpu_s, 100 * u.cpu_s / period, u.peak_rss / 2**20)
            for name, u in run.usage.items()]
    for name, cpu, _, rss in rows:
        assert cpu > 0 and rss > 0, name
    _table(record_property, run, "resources", rows)


# ------------------------------------------------------------------------- the printout

HEADERS = {
    "outages": ("event", "truth start", "truth end", "linkwatch start", "linkwatch end",
                "Δstart s", "Δend s"),
    "availability": ("target", "truth down s", "down s", "truth unreach s", "unreach s",
                     "truth avail %", "avail %"),
    "bandwidth": ("link", "pushed bit/s", "p95 bit/s", "util p95 %", "min > 80%"),
    "ledger": ("agent", "in spool", "central", "lost", "extra", "differ"),
    "resources": ("agent", "CPU s", "CPU %", "peak RSS MiB"),
}


def _table(record_property, run: Run, name: str, rows: list[tuple]) -> None:
    """Print one table of the run beside the ground truth (in the session's summary, see
    tests/system/conftest.py) and keep it in the run's directory."""
    lines = [" | ".join(HEADERS[name])]
    for row in rows:
        if name == "outages":
            label, begun, mended, start, end = row
            row = (label, _clock(begun), _clock(mended), _clock(start), _clock(end),
                   f"{(start - begun) / 1e9:+.1f}", f"{(end - mended) / 1e9:+.1f}")
        lines.append(" | ".join(f"{v:.2f}" if isinstance(v, float) else str(v) for v in row))
    text = "\n".join(lines) + "\n"
    (run.workdir / f"{name}.txt").write_text(text)
    record_property(SUMMARY, f"district: {name}\n{text}")


def _clock(ns: int) -> str:
    return dt.datetime.fromtimestamp(ns / 1e9, dt.UTC).strftime("%H:%M:%S.%f")[:-4]
