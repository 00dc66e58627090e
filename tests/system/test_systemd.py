"""The agent and the report as systemd runs them, on a booted Debian machine.

linkwatch is installed the documented way (`linkwatch agent install --source WHEEL` from a
virtual environment holding the wheel built from this checkout) into a fresh Debian 12
root, booted with `systemd-nspawn --boot`. The machine shares a network namespace made by
the test, where the test runs InfluxDB on the loopback and its loopback holds the
address of a target the test can take away. Everything is checked from inside the machine,
through systemctl, journalctl and the installed `linkwatch`.

The tests run in order against one booted machine. One drop-in shortens the watchdog to
4 s (docs/service.md#watchdog shows the same `systemctl edit`), so a frozen agent is
killed in seconds rather than a minute; everything else is the unit as shipped.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import stat
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pytest

from tests.faults.ledger import balance
from tests.netns import inside, ip, namespace, require_ip
from tests.servers.influxdb import InfluxServer
from tests.servers.process import require
from tests.system.machine import Machine, boot, wait_for
from tests.system.wheels import Dist, build, pip_conf

pytestmark = pytest.mark.system

UNIT = "linkwatch-agent.service"
REPORT = "linkwatch-report.service"
CONFIG = "/etc/linkwatch/config.yaml"
SPOOL = "/var/lib/linkwatch/spool.db"
PROGRAM = "/opt/linkwatch/bin/linkwatch"
DATABASE = "boxed"
DOWN_TARGET = "192.0.2.1"   # an address of the test namespace's loopback, removed at will
WATCHDOG_S = 4

DROP_IN = f"""\
# A short watchdog, so a frozen main loop is killed within seconds in the test.
[Service]
WatchdogSec={WATCHDOG_S}s
RestartSec=1s
"""


def agent_config(influx_url: str, *, extra_pings: str = "", interval: str = "1s") -> str:
    return f"""\
agent:
  name: boxed
  site: lab
  spool: {{path: {SPOOL}, group_readable: true, max_size: 64MiB, history: 1d}}
sites:
  - {{name: lab}}
outputs:
  - {{type: influxdb, url: '{influx_url}', database: {DATABASE}, version: '1', timeout: 2s}}
checks:
  host: {{interval: {interval}}}
  ping:
    - {{name: lo4, address: 127.0.0.1, interval: {interval}, count: 1, path_probe: false}}
    - {{name: doc, address: {DOWN_TARGET}, interval: {interval}, count: 1, timeout: 900ms,
        path_probe: false}}
{extra_pings}"""


LO6 = "    - {name: lo6, address: '::1', interval: 1s, count: 1, path_probe: false}\n"


@dataclass
class Box:
    """The booted machine with linkwatch installed and running, and the test's servers."""

    machine: Machine
    netns: str
    influx: InfluxServer
    dist: Dist
    workdir: Path

    def show(self, *properties: str, unit: str = UNIT) -> dict[str, str]:
        return self.machine.show(unit, *properties)

    def main_pid(self) -> int:
        return int(self.show("MainPID")["MainPID"])

    def restarts(self) -> int:
        return int(self.show("NRestarts")["NRestarts"])

    def running_again(self, old_pid: int) -> int:
        """Wait until the agent runs as a new process that has sent READY=1 again."""
        def new_pid() -> int | None:
            shown = self.show("MainPID", "ActiveState", "SubState")
            pid = int(shown["MainPID"])
            fresh = pid not in (0, old_pid)
            ready = (shown["ActiveState"], shown["SubState"]) == ("active", "running")
            return pid if fresh and ready else None
        return wait_for(new_pid, "the agent to run again as a new process", timeout=90)

    def status(self, *, user: str | None = None, config: str = CONFIG) -> dict[str, dict]:
        """`linkwatch status --local --format json` inside the machine, by target."""
        done = self.machine.run(PROGRAM, "status", "--local", "-c", config, "--format", "json",
                                user=user, check=False)
        assert done.returncode in (0, 1), done.stdout + done.stderr
        return {row["target"]: row for row in json.loads(done.stdout or "[]")
                if "target" in row}

    def polled_after(self, target: str, after: str, *, config: str = CONFIG) -> str:
        """Wait until `target` has a sample later than `after`; its last_seen."""
        def seen() -> str | None:
            row = self.status(config=config).get(target)
            return row["last_seen"] if row and row["last_seen"] > after else None
        return wait_for(seen, f"{target} to be polled after {after!r}", timeout=60, every=0.5)

    def spool(self) -> dict[str, int]:
        """The spool's counters and queue, read from the host while the agent runs."""
        path = self.machine.path(SPOOL)
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10) as db:
            counters = dict(db.execute("SELECT name, value FROM counter"))
            counters["queued"] = db.execute("SELECT count(*) FROM queue").fetchone()[0]
            counters["first_id"] = db.execute("SELECT min(id) FROM point").fetchone()[0]
        return counters

    def journal_since(self, cursor: str) -> list[dict]:
        return self.machine.journal(UNIT, f"--after-cursor={cursor}")

    def cursor(self) -> str:
        entries = self.machine.journal(UNIT, "-n", "1")
        return entries[-1]["__CURSOR"] if entries else ""

    def logged(self, cursor: str, text: str) -> dict | None:
        """The first journal entry of the unit after `cursor` whose message holds `text`."""
        for entry in self.journal_since(cursor):
            if text in _message(entry):
                return entry
        return None


def _message(entry: dict) -> str:
    message = entry.get("MESSAGE", "")
    return bytes(message).decode(errors="replace") if isinstance(message, list) else message


def install(machine: Machine, source: Path) -> subprocess.CompletedProcess:
    """As a person would: a virtual environment with the wheel, then `agent install`."""
    if not machine.path("/root/installer/bin/linkwatch").exists():
        machine.run("python3", "-m", "venv", "/root/installer")
        machine.run("/root/installer/bin/pip", "install", "--quiet", f"/dist/{source.name}")
    return machine.run("/root/installer/bin/linkwatch", "agent", "install", "--source",
                       f"/dist/{source.name}", "--python", "/usr/bin/python3")


@pytest.fixture(scope="module")
def box(base_root: Path, dist: Dist, wheels: Path, tmp_path_factory) -> Iterator[Box]:
    require_ip()
    work = tmp_path_factory.mktemp("systemd")
    with namespace(f"lwsys-{uuid.uuid4().hex[:8]}") as netns:
        ip(netns, "addr", "add", f"{DOWN_TARGET}/32", "dev", "lo")
        require("influxd", "the Debian package influxdb")
        influx = InfluxServer(work / "influxd", netns=netns)
        influx.start()
        try:
            influx.create_database(DATABASE)
            with boot(base_root, work / "machine", netns=netns,
                      bind_ro=[(wheels, "/wheelhouse"), (dist.wheel.parent, "/dist")],
                      prepare=offline_pip) as machine:
                installed = install(machine, dist.wheel)
                assert "systemctl try-restart" in installed.stdout  # systemd runs here
                machine.write(CONFIG, agent_config(influx.url), mode=0o640)
                os.chown(machine.path(CONFIG), 0, _gid(machine, "linkwatch"))
                machine.write(f"/etc/systemd/system/{UNIT}.d/watchdog.conf", DROP_IN)
                machine.run("systemctl", "daemon-reload")
                machine.run("systemctl", "enable", "--now", UNIT)
                yield Box(machine, netns, influx, dist, work)
        finally:
            influx.stop()


def offline_pip(root: Path) -> None:
    """pip in the machine installs from the wheelhouse and the built dists only."""
    (root / "etc" / "pip.conf").write_text(pip_conf("/wheelhouse", "/dist"))


def _gid(machine: Machine, group: str) -> int:
    for line in machine.path("/etc/group").read_text().splitlines():
        name, _, gid, _ = line.split(":", 3)
        if name == group:
            return int(gid)
    raise AssertionError(f"no group {group} in the machine")


def _uid(machine: Machine, user: str) -> int:
    for line in machine.path("/etc/passwd").read_text().splitlines():
        name, _, uid, _ = line.split(":", 3)
        if name == user:
            return int(uid)
    raise AssertionError(f"no user {user} in the machine")


# ------------------------------------------------------------------------------ the agent


def test_active_only_after_ready_with_a_status_line(box: Box) -> None:
    shown = box.show("Type", "ActiveState", "SubState", "StatusText",
                     "ExecMainStartTimestampMonotonic", "ActiveEnterTimestampMonotonic")
    assert (shown["Type"], shown["ActiveState"], shown["SubState"]) == (
        "notify", "active", "running")
    assert re.fullmatch(r"3 checks, \d+ failing, \d+ targets down; \d+ points queued",
                        shown["StatusText"]), shown["StatusText"]
    # Type=notify: systemd counts the unit started when READY=1 arrives, which the agent
    # sends after opening its checks and logging so; Type=simple would be "Started" at once
    started_checks = started_unit = None
    for i, entry in enumerate(box.machine.journal(UNIT)):
        message = _message(entry)
        if started_checks is None and "started 3 checks and 1 outputs" in message:
            started_checks = i
        if started_unit is None and message.startswith("Started linkwatch-agent.service"):
            started_unit = i
    assert started_checks is not None and started_unit is not None
    assert started_checks < started_unit
    assert (int(shown["ActiveEnterTimestampMonotonic"])
            > int(shown["ExecMainStartTimestampMonotonic"]))


def test_status_text_follows_a_target_going_down_and_back(box: Box) -> None:
    def status_says(text: str):
        return lambda: text in box.show("StatusText")["StatusText"]

    wait_for(status_says("0 targets down"), "the status line to show no target down")
    ip(box.netns, "addr", "del", f"{DOWN_TARGET}/32", "dev", "lo")
    try:
        wait_for(status_says("1 targets down"), "the status line to show doc down", 30)
    finally:
        ip(box.netns, "addr", "add", f"{DOWN_TARGET}/32", "dev", "lo")
    wait_for(status_says("0 targets down"), "the status line to show doc back", 30)


def test_watchdog_timestamp_advances(box: Box) -> None:
    first = int(box.show("WatchdogTimestampMonotonic")["WatchdogTimestampMonotonic"])
    assert first > 0
    wait_for(lambda: int(box.show("WatchdogTimestampMonotonic")["WatchdogTimestampMonotonic"])
             > first, "a later watchdog ping", timeout=3 * WATCHDOG_S)


def test_reload_keeps_the_spool_and_its_queue_and_applies_a_new_check(box: Box) -> None:
    pid, restarts = box.main_pid(), box.restarts()
    box.influx.stop()  # so the queue holds points the reload must keep
    try:
        wait_for(lambda: box.spool()["queued"] > 5, "points queued while InfluxDB is down")
        before = box.spool()
        cursor = box.cursor()
        box.machine.write(CONFIG, agent_config(box.influx.url, extra_pings=LO6), mode=0o640)
        box.machine.run("systemctl", "reload", UNIT)
        wait_for(lambda: box.logged(cursor, f"config reloaded from {CONFIG}"),
                 "the reload to be logged")
        wait_for(lambda: box.status().get("lo6", {}).get("state") == "UP",
                 "the new check lo6 to be polled, UP")
        after = box.spool()
        assert after["first_id"] == before["first_id"]  # the history is the same file
        assert after["collected_total"] > before["collected_total"]
        assert after["queued"] >= before["queued"]       # nothing unsent was dropped
    finally:
        box.influx.start()
    assert (box.main_pid(), box.restarts()) == (pid, restarts)  # reloaded, not restarted
    wait_for(lambda: box.spool()["queued"] < 50, "the queue to drain once InfluxDB is back")


def test_a_broken_config_is_refused_on_reload_and_the_old_one_keeps_running(box: Box) -> None:
    pid = box.main_pid()
    good = box.machine.path(CONFIG).read_text()
    lines = good.splitlines()
    line = next(i for i, text in enumerate(lines, 1) if "name: lo6" in text)
    cursor = box.cursor()
    box.machine.write(CONFIG, good.replace("name: lo6, address: '::1', interval: 1s",
                                           "name: lo6, address: '::1', interval: soon"),
                      mode=0o640)
    try:
        box.machine.run("systemctl", "reload", UNIT)
        refused = wait_for(lambda: box.logged(cursor, "config reload failed"),
                           "the refused reload to be logged")
        assert int(refused["PRIORITY"]) == 3  # an error
        detail = "\n".join(_message(e) for e in box.journal_since(cursor))
        assert f"{CONFIG}:{line}" in detail, detail  # the file and line of the bad value
        wait_for(lambda: box.show("SubState")["SubState"] == "running", "READY=1 again")
        assert box.main_pid() == pid
        # the old config's checks are all still polled (read through a valid copy)
        box.machine.write("/root/good.yaml", good)
        for target in ("lo4", "lo6"):
            seen = box.status(config="/root/good.yaml")[target]["last_seen"]
            box.polled_after(target, seen, config="/root/good.yaml")
    finally:
        box.machine.write(CONFIG, good, mode=0o640)


def test_sigkill_is_restarted_by_restart_on_failure(box: Box) -> None:
    pid, restarts, cursor = box.main_pid(), box.restarts(), box.cursor()
    box.machine.run("kill", "-KILL", str(pid))
    box.running_again(pid)
    assert box.restarts() == restarts + 1
    assert box.logged(cursor, "status=9/KILL")
    box.polled_after("lo4", box.status()["lo4"]["last_seen"])


def test_a_frozen_main_loop_is_killed_by_the_watchdog_and_restarted(box: Box) -> None:
    pid, restarts, cursor = box.main_pid(), box.restarts(), box.cursor()
    box.machine.run("kill", "-STOP", str(pid))
    box.running_again(pid)
    assert box.restarts() == restarts + 1
    assert box.logged(cursor, f"Watchdog timeout (limit {WATCHDOG_S}s)!")
    assert box.logged(cursor, "status=6/ABRT")


def test_the_journal_carries_the_agents_fields(box: Box) -> None:
    entries = [e for e in box.machine.journal(UNIT) if e.get("SYSLOG_IDENTIFIER") == "linkwatch"]
    assert {e["_SYSTEMD_UNIT"] for e in entries} == {UNIT}
    # the target taken away in the status test: one entry when it failed, one when it came
    # back, each saying which check and what state, as fields
    doc = [e for e in entries if e.get("LINKWATCH_CHECK") == "doc"]
    assert [e["LINKWATCH_STATE"] for e in doc][:2] in (["send-error", "up"], ["down", "up"]), doc
    down, back = doc[0], doc[1]
    assert (int(down["PRIORITY"]), int(back["PRIORITY"])) == (4, 6)
    assert down["LINKWATCH_KIND"] == "ping" and down["LOGGER"] == "linkwatch.ping"
    assert down["CODE_FILE"].endswith("/linkwatch/collector/ping/probe.py")
    assert "ping doc:" in _message(down)
    started = next(e for e in entries if "started 3 checks" in _message(e))
    assert int(started["PRIORITY"]) == 6 and started["LOGGER"] == "linkwatch.agent"
    # every entry came through the native socket, none through the stream's <N> prefix
    assert all("LOGGER" in e for e in entries), [e for e in entries if "LOGGER" not in e][:3]


def test_files_have_the_documented_owners_and_modes(box: Box) -> None:
    machine = box.machine
    uid, gid = _uid(machine, "linkwatch"), _gid(machine, "linkwatch")
    expected = {
        "/etc/linkwatch": (0, 0, 0o755),
        CONFIG: (0, gid, 0o640),
        "/var/lib/linkwatch": (uid, gid, 0o750),
        SPOOL: (uid, gid, 0o640),
        "/opt/linkwatch": (0, 0, 0o755),
        PROGRAM: (0, 0, 0o755),
    }
    for path, (owner, group, mode) in expected.items():
        st = machine.path(path).lstat() if path != PROGRAM else machine.path(path).stat()
        assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (owner, group, mode), path
    assert pwd_shell(machine, "linkwatch") == "/usr/sbin/nologin"
    # the service user may write nothing but its state directory
    unit = machine.path(f"/etc/systemd/system/{UNIT}").read_text()
    assert "\nUser=linkwatch\n" in unit and "\nStateDirectory=linkwatch\n" in unit


def pwd_shell(machine: Machine, user: str) -> str:
    for line in machine.path("/etc/passwd").read_text().splitlines():
        fields = line.split(":")
        if fields[0] == user:
            return fields[6]
    raise AssertionError(f"no user {user}")


def test_status_local_works_for_an_it_user_in_the_linkwatch_group(box: Box) -> None:
    box.machine.run("useradd", "--create-home", "--groups", "linkwatch", "it")
    box.machine.run("useradd", "--create-home", "visitor")
    wait_for(lambda: box.status(user="it").get("lo4", {}).get("state") == "UP",
             "the IT user to see lo4 UP")
    table = box.machine.run(PROGRAM, "status", "--local", "-c", CONFIG, user="it")
    assert re.search(r"^lab\s+ping\s+lo4\s+127\.0\.0\.1\s", table.stdout, re.M), table.stdout
    # outside the group: a clear refusal, not a traceback
    refused = box.machine.run(PROGRAM, "status", "--local", "-c", CONFIG, user="visitor",
                              check=False)
    assert refused.returncode != 0
    assert "Traceback" not in refused.stderr and CONFIG in refused.stderr, refused.stderr


# --------------------------------------------------------------------------- the upgrade


def test_installing_a_new_version_restarts_the_agent_and_keeps_its_spool(box: Box) -> None:
    newer = build(box.workdir / "dist-b", version=f"{box.dist.version}.post1")
    for artifact in (newer.wheel, newer.sdist):  # into the directory bound at /dist
        shutil.copy(artifact, box.dist.wheel.parent / artifact.name)
    pid, before = box.main_pid(), box.spool()
    done = install(box.machine, newer.sdist)  # version A came as a wheel, B as a tarball
    assert f"{CONFIG} exists: kept as it is" in done.stdout
    new_pid = box.running_again(pid)
    version = box.machine.run(PROGRAM, "--version").stdout
    assert newer.version in version
    assert box.show("MainPID")["MainPID"] == str(new_pid)
    after = box.spool()
    assert after["first_id"] == before["first_id"]
    box.polled_after("lo4", box.status()["lo4"]["last_seen"])


# ---------------------------------------------------------------------------- the report


def test_the_report_unit_writes_html_and_pdf_under_its_sandbox(box: Box) -> None:
    month = (date.today().replace(day=1) - timedelta(days=1)).strftime("%Y-%m")
    # last month, seeded at one cycle a minute (the agent's 1 s checks would make millions)
    seed = box.machine.path(CONFIG).read_text().replace("interval: 1s", "interval: 60s")
    box.machine.write("/root/seed.yaml", seed)
    seeded = box.machine.run(PROGRAM, "demo", "seed", "-c", "/root/seed.yaml", "--month", month,
                             "--real", "--yes")
    assert "wrote" in seeded.stdout
    box.machine.run("systemctl", "enable", "linkwatch-report.timer")
    timers = box.machine.run("systemctl", "list-timers", "--all", "--no-pager").stdout
    assert "linkwatch-report.timer" in timers
    started = box.machine.run("systemctl", "start", REPORT, check=False)
    shown = box.show("Result", "ExecMainStatus", unit=REPORT)
    log = "\n".join(_message(e) for e in box.machine.journal(REPORT))
    assert started.returncode == 0 and shown["Result"] == "success", log
    reports = box.machine.path("/var/lib/linkwatch/reports")
    html = reports / f"linkwatch-{month}.vi.html"
    pdf = reports / f"linkwatch-{month}.en.pdf"
    assert "<html" in html.read_text()[:500].lower()
    assert pdf.read_bytes()[:5] == b"%PDF-"
    uid = _uid(box.machine, "linkwatch")
    assert html.stat().st_uid == pdf.stat().st_uid == uid
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True,
                          check=True).stdout
    assert month in text or "lab" in text, text[:500]
    exposure = box.machine.run("systemd-analyze", "security", "--no-pager", REPORT,
                               check=False).stdout
    score = float(re.search(r"Overall exposure level for \S+: ([\d.]+)", exposure).group(1))
    assert score <= 2.0, exposure


# ------------------------------------------------------------------------------ stopping


def test_stop_completes_in_time_and_loses_nothing_unsent(box: Box) -> None:
    box.influx.stop()
    try:
        wait_for(lambda: box.spool()["queued"] > 5, "points queued while InfluxDB is down")
        box.machine.run("systemctl", "stop", UNIT)
        shown = box.show("ActiveState", "Result", "ExecMainCode", "ExecMainStatus")
        # Result=timeout would mean TimeoutStopSec ran out and systemd sent SIGKILL
        assert shown == {"ActiveState": "inactive", "Result": "success", "ExecMainCode": "1",
                         "ExecMainStatus": "0"}
        queued = box.spool()["queued"]
        assert queued > 5  # unsent points stay in the spool
    finally:
        box.influx.start()
    # Every point the agent ever committed (through reloads, kills, the watchdog and the
    # upgrade) reaches InfluxDB once the queue is shipped: the ledger of the faults suite.
    row = _drain_and_balance(box)
    assert row.lost == 0 and row.dup_diff == 0, row.line()


def _drain_and_balance(box: Box):
    from linkwatch.agent.config import load_config
    from tests.faults.harness import drain

    spool = box.machine.path(SPOOL)
    host_config = box.workdir / "host.yaml"
    host_config.write_text(box.machine.path(CONFIG).read_text().replace(SPOOL, str(spool)))
    config = load_config(host_config)
    inside(box.netns, lambda: drain(config))
    return balance("systemd machine", spool, box.influx, DATABASE)
