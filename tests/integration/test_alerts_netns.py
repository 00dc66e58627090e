"""Alerts end to end: the real agent process pings targets across a veth pair, and a real
SMTP server (aiosmtpd) receives its mail; every packet stays in the namespaces the test
makes.

    agent namespace                         far namespace
    linkwatch agent run, aiosmtpd  ── a0 ═ b0 ──  198.51.100.2 … .19 (the targets)
    198.51.100.1                              taking b0 down cuts every target at once

Sites: `hub` (its router .2) is the parent of `c1` … `c5` (one target each, .3 … .7);
`isle` (.10 … .19, no parent) serves the long cut. Intervals are 2 s, N = 3, and every
wait is for a condition read from the inbox or the agent's spool.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.faults.harness import AgentProcess, wait_for
from tests.netns import ip, namespace, require_ip
from tests.servers.influxdb import InfluxServer
from tests.servers.smtp import SmtpProcess

pytestmark = [pytest.mark.netns, pytest.mark.integration]

INTERVAL_S = 2
N = 3
FAR = "198.51.100"
CHILDREN = {f"c{i}": f"c{i}-router" for i in range(1, 6)}
ISLE = [f"isle-{i:02d}" for i in range(10)]
LATENCY_BOUND_S = N * INTERVAL_S + 10          # the acceptance bound: N × interval + 10 s


@dataclass
class Network:
    near: str                    # the agent's namespace
    far: str                     # the targets' namespace

    def cut(self) -> None:
        ip(self.far, "link", "set", "b0", "down")

    def mend(self) -> None:
        ip(self.far, "link", "set", "b0", "up")

    def run(self, *cmd: str) -> tuple[str, ...]:
        return ("ip", "netns", "exec", self.near, *cmd)


@pytest.fixture
def network() -> Iterator[Network]:
    require_ip()
    tag = uuid.uuid4().hex[:6]
    with namespace(f"lwan-{tag}") as near, namespace(f"lwaf-{tag}") as far:
        ip(near, "link", "add", "a0", "type", "veth", "peer", "name", "b0", "netns", far)
        ip(near, "addr", "add", f"{FAR}.1/24", "dev", "a0")
        ip(near, "link", "set", "a0", "up")
        for host in (2, 3, 4, 5, 6, 7, *range(10, 20)):
            ip(far, "addr", "add", f"{FAR}.{host}/24", "dev", "b0")
        ip(far, "link", "set", "b0", "up")
        yield Network(near, far)


def write_config(directory: Path, *, hub: bool = True, isle: bool = False, extra: str = "",
                 notify: str | None = None, agent: str = "district-agent",
                 site: str = "district", pings: tuple[str, ...] = (),
                 head: str = "") -> Path:
    """The agent's config: `hub` (the hub router and the five targets behind it), `isle`
    (ten targets), `pings` (more lines); `extra` under `alerts:`, `notify` whole, `head`
    more top-level sections (outputs, maintenance)."""
    lines = list(pings)
    if hub:
        lines += [f"    - {{name: hub-router, address: {FAR}.2, site: hub}}"]
        lines += [f"    - {{name: {target}, address: {FAR}.{2 + i}, site: {child}}}"
                  for i, (child, target) in enumerate(CHILDREN.items(), 1)]
    if isle:
        lines += [f"    - {{name: {target}, address: {FAR}.{10 + i}, site: isle}}"
                  for i, target in enumerate(ISLE)]
    sites = ["  - {name: district}", "  - {name: hub, parent: district}",
             *(f"  - {{name: {site}, parent: hub}}" for site in CHILDREN),
             "  - {name: isle, parent: district}"]
    if notify is None:
        notify = textwrap.dedent("""\
            notify:
              retry_max: 2s
              email:
                - {name: it-staff, server: 127.0.0.1, port: 2525, security: none,
                   sender: linkwatch@district.example, to: [it@district.example]}
            """)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "agent.yaml"
    path.write_text(textwrap.dedent(f"""\
        agent:
          name: {agent}
          site: {site}
          timezone: UTC
          spool: {{path: spool.db, max_size: 64MiB, history: 1d}}
        x-ping: &ping {{interval: {INTERVAL_S}s, count: 1, path_probe: false}}
        sites:
        """) + "\n".join(sites) + "\n" + head + textwrap.dedent(f"""
        alerts:
          language: en
          outage_cycles: {N}
        """) + extra + notify + "checks:\n  ping:\n" + "\n".join(
            p.replace("{name", "{<<: *ping, name") for p in lines) + "\n")
    return path


def alert_states(directory: Path) -> dict[str, tuple[str, str, dict]]:
    """key → (state, notified, event data), read from the running agent's spool."""
    path = directory / "spool.db"
    if not path.exists():
        return {}
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10) as db:
        try:
            rows = db.execute("SELECT key, state, notified, detail FROM alert").fetchall()
        except sqlite3.OperationalError:
            return {}
    return {key: (state, told, json.loads(detail)) for key, state, told, detail in rows}


def outbox(directory: Path) -> list[tuple[str, str, str, int]]:
    """(channel, kind, status, attempts) of every notification."""
    with sqlite3.connect(f"file:{directory / 'spool.db'}?mode=ro", uri=True, timeout=10) as db:
        return db.execute("SELECT channel, kind, status, attempts FROM notification "
                          "ORDER BY id").fetchall()


def all_up(directory: Path, names: list[str]) -> bool:
    """Every named target's newest ping answered."""
    path = directory / "spool.db"
    if not path.exists():
        return False
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10) as db:
        try:
            lines = [bytes(r[0]) for r in db.execute(
                "SELECT line FROM latest WHERE measurement = 'ping'")]
        except sqlite3.OperationalError:
            return False
    up = {name for name in names for line in lines
          if f"target={name}".encode() in line and b" up=1i" in line.replace(b",", b" ")}
    return up == set(names)


def key(name: str) -> str:
    return f"target_down|ping|{name}||"


def targets() -> list[str]:
    return ["hub-router", *CHILDREN.values()]


def start_agent(network: Network, config: Path) -> AgentProcess:
    agent = AgentProcess(config, prefix=network.run()).start()
    agent.wait_started()
    return agent


def test_a_cut_link_mails_once_naming_what_is_cut_off_then_once_resolved(
        network: Network, tmp_path: Path) -> None:
    smtp = SmtpProcess(network.near, tmp_path / "mail").start()
    agent = start_agent(network, write_config(tmp_path))
    try:
        wait_for(lambda: all_up(tmp_path, targets()), 60, "every target to answer")
        network.cut()
        mails = smtp.wait_for(lambda m: len(m) >= 1, LATENCY_BOUND_S,
                              "the mail about the cut")
        # the five targets behind the hub are judged (suppressed), and nothing more is sent
        wait_for(lambda: all(alert_states(tmp_path).get(key(name), ("",))[0] == "suppressed"
                             for name in CHILDREN.values()), 30,
                 "the targets behind the hub to be suppressed")
        assert len(smtp.messages()) == 1
        down = mails[0]
        assert down.subject == "[linkwatch] CRITICAL DOWN: hub-router (hub)"
        assert "Cut off behind it: 5 targets" in down.text
        for name in CHILDREN.values():
            assert name in down.text
        assert down.message["Message-ID"].startswith("<")

        network.mend()
        mails = smtp.wait_for(lambda m: len(m) >= 2, LATENCY_BOUND_S, "the resolved mail")
        wait_for(lambda: all(alert_states(tmp_path).get(key(n), ("",))[0] == "ok"
                             for n in targets()), 30, "every alert to be resolved")
        assert len(smtp.messages()) == 2
        assert mails[1].subject == "[linkwatch] RESOLVED DOWN: hub-router (hub)"
        assert agent.stop() == 0
    finally:
        if agent.alive:
            agent.kill()
        smtp.stop()


def test_a_mail_server_down_through_a_crash_delivers_exactly_once(
        network: Network, tmp_path: Path) -> None:
    smtp = SmtpProcess(network.near, tmp_path / "mail")        # not started: the server is down
    config = write_config(tmp_path)
    agent = start_agent(network, config)
    try:
        wait_for(lambda: all_up(tmp_path, targets()), 60, "every target to answer")
        network.cut()
        wait_for(lambda: any(attempts >= 1 for _, _, status, attempts in outbox(tmp_path)
                             if status == "queued"), 60,
                 "a failed attempt to mail the alert")
        agent.kill()                                           # SIGKILL
        agent = start_agent(network, config)
        smtp.start()
        mails = smtp.wait_for(lambda m: len(m) >= 1, 60, "the mail after the restart")
        wait_for(lambda: [s for c, k, s, a in outbox(tmp_path)] == ["sent"], 30,
                 "the outbox to record the mail as sent")
        assert len(smtp.messages()) == 1
        assert mails[0].subject == "[linkwatch] CRITICAL DOWN: hub-router (hub)"
        assert agent.stop() == 0
    finally:
        if agent.alive:
            agent.kill()
        smtp.stop()


# A channel program: appends its stdin to out/ as one file per run, fails while `down` exists.
CHANNEL_PROGRAM = """\
import pathlib, sys
here = pathlib.Path(sys.argv[1])
if (here / "down").exists():
    print("the receiving end is down", file=sys.stderr)
    sys.exit(1)
out = here / "out"
out.mkdir(exist_ok=True)
(out / f"{len(list(out.iterdir())):03d}.json").write_bytes(sys.stdin.buffer.read())
"""


def test_a_long_cut_with_every_channel_unreachable_gives_one_digest_per_channel(
        network: Network, tmp_path: Path) -> None:
    program = tmp_path / "receiver"
    program.mkdir()
    (program / "receiver.py").write_text(CHANNEL_PROGRAM)
    (program / "down").touch()
    outgoing = tmp_path / "sms-outgoing"                     # missing: the modem is away
    notify = textwrap.dedent(f"""\
        notify:
          retry_max: 2s
          email:
            - {{name: it-staff, server: 127.0.0.1, port: 2525, security: none,
               sender: linkwatch@district.example, to: [it@district.example]}}
          command:
            - {{name: ticket, command: ["{sys.executable}", "{program / 'receiver.py'}",
                                        "{program}"]}}
          sms:
            - {{name: island-sms, to: ["+84912345678"], outgoing: "{outgoing}"}}
        """)
    config = write_config(tmp_path, hub=False, isle=True, extra="  digest_after: 10s\n",
                          notify=notify)
    smtp = SmtpProcess(network.near, tmp_path / "mail")        # down until the end
    agent = start_agent(network, config)
    try:
        wait_for(lambda: all_up(tmp_path, ISLE), 60, "every isle target to answer")
        network.cut()
        wait_for(lambda: all(alert_states(tmp_path).get(key(n), ("",))[0] == "firing"
                             for n in ISLE), 60, "the ten isle targets to fire")
        network.mend()
        wait_for(lambda: all(alert_states(tmp_path).get(key(n), ("",))[0] == "ok"
                             for n in ISLE), 60, "the ten isle targets to resolve")
        # 20 changes queued per channel; let them all grow older than digest_after
        wait_for(lambda: len(outbox(tmp_path)) == 60, 30, "20 notifications per channel")
        wait_for(lambda: oldest_queued_age_s(tmp_path, newest=True) > 11, 60,
                 "every notification to wait longer than digest_after")
        smtp.start()
        (program / "down").unlink()
        outgoing.mkdir()
        mails = smtp.wait_for(lambda m: len(m) >= 1, 60, "the digest mail")
        wait_for(lambda: all(status in ("sent", "digested")
                             for _, _, status, _ in outbox(tmp_path)), 60,
                 "every channel to deliver its digest")
        assert len(smtp.messages()) == 1
        assert mails[0].subject.startswith("[linkwatch] Digest of 10 alerts")
        assert "10 × DOWN" in mails[0].text and "all resolved" in mails[0].text
        runs = [json.loads(p.read_text()) for p in sorted((program / "out").iterdir())]
        assert [r["kind"] for r in runs] == ["digest"]
        assert len(runs[0]["events"]) == 20
        texts = [p for p in outgoing.iterdir() if not p.name.startswith(".")]
        assert texts and all(p.read_bytes().startswith(b"To: 84912345678\n") for p in texts)
        assert len({p.name.rsplit("-", 1)[0] for p in texts}) == 1     # one message
        kinds = [(c, k) for c, k, s, _ in outbox(tmp_path) if s == "sent"]
        assert sorted(kinds) == [("island-sms", "digest"), ("it-staff", "digest"),
                                 ("ticket", "digest")]
        assert agent.stop() == 0
    finally:
        if agent.alive:
            agent.kill()
        smtp.stop()


def oldest_queued_age_s(directory: Path, *, newest: bool = False) -> float:
    """Seconds since the oldest (or newest) queued notification was made."""
    import time

    with sqlite3.connect(f"file:{directory / 'spool.db'}?mode=ro", uri=True, timeout=10) as db:
        (created,) = db.execute(f"SELECT {'max' if newest else 'min'}(created_ns) FROM "
                                "notification WHERE status = 'queued'").fetchone()
    return 0.0 if created is None else (time.time_ns() - created) / 1e9


def test_an_outage_inside_a_maintenance_window_sends_nothing_and_is_not_downtime(
        network: Network, tmp_path: Path) -> None:
    now = dt.datetime.now(dt.UTC)
    start, end = now - dt.timedelta(minutes=1), now + dt.timedelta(hours=1)
    window = textwrap.dedent(f"""\
        maintenance:
          - {{name: cable-work, sites: [hub], start: "{start:%Y-%m-%d %H:%M}",
             end: "{end:%Y-%m-%d %H:%M}"}}
        """)
    config = write_config(tmp_path, head=window)
    smtp = SmtpProcess(network.near, tmp_path / "mail").start()
    agent = start_agent(network, config)
    try:
        wait_for(lambda: all_up(tmp_path, targets()), 60, "every target to answer")
        network.cut()
        wait_for(lambda: alert_states(tmp_path).get(key("hub-router"), ("",))[0]
                 == "suppressed", 60, "the hub router's alert to be held by the window")
        wait_for(lambda: all(alert_states(tmp_path).get(key(n), ("",))[0] == "suppressed"
                             for n in CHILDREN.values()), 30, "the children to be suppressed")
        assert alert_states(tmp_path)[key("hub-router")][2]["reason"] == \
            "maintenance cable-work"
        network.mend()
        wait_for(lambda: all(alert_states(tmp_path).get(key(n), ("",))[0] == "ok"
                             for n in targets()), 60, "every alert to be resolved")
        assert agent.stop() == 0
        assert smtp.messages() == []
        assert outbox(tmp_path) == []
        uptime = subprocess.run(
            [sys.executable, "-m", "linkwatch", "uptime", "-c", str(config), "--local",
             "--since", "30m", "--format", "json"], capture_output=True, text=True,
            check=True)
        rows = {(r["site"], r["target"]): r for r in json.loads(uptime.stdout)}
        hub = rows[("hub", "hub-router")]
        # every cycle of the hub router fell in the window: none is up, down or judged
        assert hub["maintenance_s"] > 0
        assert (hub["downtime_s"], hub["outages"], hub["up_s"]) == (0, 0, 0)
        assert hub["availability_pct"] is None
        # behind it (no window), the cut is UNREACHABLE time, not downtime
        child = rows[("c1", "c1-router")]
        assert child["maintenance_s"] == 0 and child["unreachable_s"] > 0
        assert (child["downtime_s"], child["outages"]) == (0, 0)
    finally:
        if agent.alive:
            agent.kill()
        smtp.stop()


def health_shipped(directory: Path) -> int:
    """The agent's `linkwatch` health points its output has acknowledged."""
    path = directory / "spool.db"
    if not path.exists():
        return 0
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10) as db:
        try:
            return db.execute("SELECT count(*) FROM point WHERE measurement = 'linkwatch' "
                              "AND id NOT IN (SELECT point_id FROM queue)").fetchone()[0]
        except sqlite3.OperationalError:
            return 0


def test_the_watcher_merges_a_silent_agent_with_its_cut_off_site_into_one_alert(
        network: Network, tmp_path: Path) -> None:
    limit_s = 20
    output = ("outputs:\n  - {type: influxdb, url: 'http://127.0.0.1:8086', "
              "database: linkwatch, version: '1'}\n")
    store = InfluxServer(tmp_path / "influxd", port=8086, netns=network.near)
    store.start()
    store.create_database("linkwatch")
    smtp = SmtpProcess(network.near, tmp_path / "mail").start()
    watcher_dir, island_dir = tmp_path / "district", tmp_path / "hub-agent"
    watcher = start_agent(network, write_config(
        watcher_dir, head=output, extra=f"  watch: true\n  watch_every: 2s\n"
                                        f"  rules: {{agent_silent: {{for: {limit_s}s}}}}\n"))
    island = start_agent(network, write_config(
        island_dir, agent="hub-agent", site="hub", hub=False, head=output,
        notify="notify: {}\n", pings=("    - {name: hub-self, address: 127.0.0.1, "
                                      "site: hub}",)))
    silent_key = "agent_silent|agent|hub-agent||"
    try:
        wait_for(lambda: all_up(watcher_dir, targets()), 60, "every target to answer")
        wait_for(lambda: health_shipped(island_dir) > 0, 60,
                 "the hub's agent to report its health to the store")
        # the hub's link is cut: its agent goes silent, and its router stops answering
        network.cut()
        assert island.stop() == 0
        smtp.wait_for(lambda m: len(m) >= 1, 60, "the mail about the hub router")
        # within the limit + 1 min of the stop
        wait_for(lambda: alert_states(watcher_dir).get(silent_key, ("",))[0] == "suppressed",
                 limit_s + 60, "agent_silent for the hub's agent, merged")
        _, told, event = alert_states(watcher_dir)[silent_key]
        assert event["reason"] == f"merged {key('hub-router')}" and told == "none"
        assert [m.subject for m in smtp.messages()] == [
            "[linkwatch] CRITICAL DOWN: hub-router (hub)"]
        # the link is back but the agent stays silent: now that is the news, alone
        network.mend()
        mails = smtp.wait_for(lambda m: len(m) >= 3, 60, "the resolved and the silent mail")
        assert sorted(m.subject for m in mails[1:]) == [
            "[linkwatch] CRITICAL AGENT SILENT: hub-agent (hub)",
            "[linkwatch] RESOLVED DOWN: hub-router (hub)"]
        assert watcher.stop() == 0
    finally:
        for agent in (watcher, island):
            if agent.alive:
                agent.kill()
        smtp.stop()
        store.stop()
