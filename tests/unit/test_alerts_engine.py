"""The alert engine on a real spool with a fake clock: the state machine of docs/alerts.md
(outages, parent suppression, flap damping, maintenance, `for`, repeats, the watcher's
merge, the agent's own health), and the outbox's digests, rate limit and crash rules."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import textwrap
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from linkwatch.agent.alerts.evaluate import Engine, Silence
from linkwatch.agent.alerts.outbox import Dispatcher, recover
from linkwatch.agent.config import load_config
from linkwatch.agent.config.schema import Config
from linkwatch.agent.outputs.backoff import Backoff
from linkwatch.agent.query.availability import MIN_CYCLES
from linkwatch.agent.query.states import UpSeries, advance, events_of, runs
from linkwatch.agent.spool import Spool, open_spool
from linkwatch.collector.sample import Sample

S = 10**9
T0 = 1_800_000_000 * S          # 2027-01-15T08:00:00Z


class Clock:
    def __init__(self) -> None:
        self.now = T0
        self.mono = 10**12

    def __call__(self) -> int:
        return self.now

    def monotonic(self) -> int:
        return self.mono

    def tick(self, seconds: float) -> None:
        self.now += int(seconds * S)
        self.mono += int(seconds * S)


SITES = """\
sites:
  - {name: lan}
  - {name: hub, parent: lan}
  - {name: c1, parent: hub}
  - {name: c2, parent: hub}
"""
PINGS = """\
checks:
  ping:
    - {name: hub-router, address: 192.0.2.1, site: hub, interval: 10s}
    - {name: c1-router, address: 192.0.2.2, site: c1, interval: 10s}
    - {name: c2-router, address: 192.0.2.3, site: c2, interval: 10s}
"""
NOTIFY = """\
notify:
  webhook: [{name: hook, url: "http://127.0.0.1:9/x"}]
"""


def config(tmp_path: Path, more: str = "", notify: str = NOTIFY) -> Config:
    path = tmp_path / "agent.yaml"
    path.write_text("agent: {name: a1, site: lan, timezone: UTC, spool: {path: spool.db}}\n"
                    + SITES + PINGS + notify + textwrap.dedent(more))
    return load_config(path)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def engine(tmp_path: Path, clock: Clock):
    def make(more: str = "", notify: str = NOTIFY) -> tuple[Engine, Spool]:
        cfg = config(tmp_path, more, notify)
        spool = open_spool(cfg)
        opened.append(spool)
        made = Engine(cfg, spool, time_ns=clock, monotonic_ns=clock.monotonic)
        made.start()
        return made, spool

    opened: list[Spool] = []
    yield make
    for spool in opened:
        spool.close()


def cycle(engine: Engine, clock: Clock, **ups: int) -> None:
    """One 10 s cycle of the named targets (site read from the config)."""
    clock.tick(10)
    sites = {c.name: c.site for c in engine.config.checks.all}
    samples = [Sample("ping", {"agent": "a1", "site": sites[name], "target": name},
                      {"up": up, "sent": 1, "received": up}, clock.now)
               for name, up in ups.items()]
    engine.spool.append(samples)            # committed, then evaluated: as the agent does
    engine.observe(samples)


ALL_UP = {"hub_router": 1, "c1_router": 1, "c2_router": 1}


def run_cycles(engine: Engine, clock: Clock, n: int, **ups: int) -> None:
    for _ in range(n):
        cycle(engine, clock, **{k.replace("_", "-"): v for k, v in ups.items()})


def states(spool: Spool) -> dict[str, tuple[str, str]]:
    return {r.key.split("|")[2]: (r.state, r.notified) for r in spool.alerts()}


def queued(spool: Spool, channel: str = "hook") -> list[dict]:
    found = []
    for n in spool.outbox_waiting(channel):
        data = json.loads(n.event)
        found += [{**d, "notification": n.kind}
                  for d in (data if n.kind == "digest" else [data])]
    return found


# -- the runs are the queries' runs ------------------------------------------------------------

@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 30), st.booleans()), min_size=1, max_size=60))
def test_advancing_sample_by_sample_gives_the_runs_the_queries_find(steps) -> None:
    step = 10 * S
    times, ups, t = [], [], 0
    for gap, up in steps:
        t += gap * S if gap > 12 else step       # mostly one interval, sometimes a gap
        times.append(t)
        ups.append(int(up))
    series = UpSeries("s", "t", 10.0, len(times), sum(ups), times[0], ups[0], times[-1],
                      ups[-1], tuple(events_of(times, ups, step)))
    found, run = [], None
    for time_ns, up in zip(times, ups, strict=True):
        run, ended = advance(run, time_ns, bool(up), step)
        if ended is not None:
            found.append(ended)
    found.append(run.close(run.last_ns + step, "end", step))
    assert found == runs(series)


def test_the_outage_length_is_the_queries_default() -> None:
    from linkwatch.agent.config.alerting import AlertSettings

    assert AlertSettings().outage_cycles == MIN_CYCLES


# -- outages and parents -------------------------------------------------------------------

def test_a_target_fires_on_its_nth_failed_cycle_and_resolves_on_the_first_success(
        engine, clock) -> None:
    e, spool = engine()
    run_cycles(e, clock, 2, **ALL_UP)
    run_cycles(e, clock, MIN_CYCLES - 1, c1_router=0)
    assert states(spool).get("c1-router", ("ok",))[0] == "ok"
    run_cycles(e, clock, 1, c1_router=0)
    assert states(spool)["c1-router"] == ("firing", "firing")
    fired = queued(spool)
    assert [(x["state"], x["name"]) for x in fired] == [("firing", "c1-router")]
    assert fired[0]["since_s"] == (T0 + 30 * S) // S        # the first failed cycle
    run_cycles(e, clock, 3, c1_router=0)
    assert len(queued(spool)) == 1                         # still down: nothing new
    run_cycles(e, clock, 1, c1_router=1)
    assert states(spool)["c1-router"] == ("ok", "none")
    resolved = queued(spool)[-1]
    assert (resolved["state"], resolved["duration_s"]) == ("resolved", 60.0)  # 6 cycles


def test_for_holds_the_alert_back_beyond_the_n_cycles(engine, clock) -> None:
    e, spool = engine("alerts:\n  overrides:\n    - {rule: target_down, check: c1-router, "
                      "for: 60s}\n")
    run_cycles(e, clock, 5, c1_router=0)
    assert "c1-router" not in states(spool)
    run_cycles(e, clock, 1, c1_router=0)
    assert states(spool)["c1-router"][0] == "firing"


def test_a_parent_cut_is_one_alert_naming_what_is_behind_it(engine, clock) -> None:
    e, spool = engine()
    run_cycles(e, clock, 2, **ALL_UP)
    run_cycles(e, clock, MIN_CYCLES + 2, hub_router=0, c1_router=0, c2_router=0)
    assert states(spool) == {"hub-router": ("firing", "firing"),
                             "c1-router": ("suppressed", "none"),
                             "c2-router": ("suppressed", "none")}
    (fired,) = queued(spool)
    assert fired["cut_off"] == [{"site": "c1", "name": "c1-router"},
                                {"site": "c2", "name": "c2-router"}]
    # the hub comes back first; c2 is down on its own: it fires after N cycles of its own
    run_cycles(e, clock, MIN_CYCLES - 1, hub_router=1, c1_router=1, c2_router=0)
    assert states(spool)["c2-router"] == ("suppressed", "none")
    run_cycles(e, clock, 1, hub_router=1, c1_router=1, c2_router=0)
    assert states(spool)["c2-router"] == ("firing", "firing")
    assert [(x["state"], x["name"]) for x in queued(spool)] == [
        ("firing", "hub-router"), ("resolved", "hub-router"), ("firing", "c2-router")]


def test_a_target_that_keeps_changing_is_reported_once_as_flapping(engine, clock) -> None:
    e, spool = engine("alerts:\n  flapping: {changes: 4, within: 30m}\n")
    for _ in range(3):                        # down 3 (fires), up 1: the 4th change flaps
        run_cycles(e, clock, 3, c1_router=0)
        run_cycles(e, clock, 1, c1_router=1)
    told = [(x["state"], x["name"]) for x in queued(spool)]
    assert told == [("firing", "c1-router"), ("resolved", "c1-router"),
                    ("firing", "c1-router"), ("resolved", "c1-router"),
                    ("flapping", "c1-router")]
    assert states(spool)["c1-router"] == ("flapping", "flapping")
    # quiet for the window: it settles, up, and that is said once
    run_cycles(e, clock, 200, c1_router=1)
    assert states(spool)["c1-router"] == ("ok", "none")
    assert [x["state"] for x in queued(spool)][-1] == "resolved"
    assert len(queued(spool)) == 6


def test_nothing_is_told_inside_a_maintenance_window(engine, clock) -> None:
    start = dt.datetime.fromtimestamp(T0 / S + 5, dt.UTC)
    e, spool = engine(f"""\
        maintenance:
          - {{name: cable, checks: [c1-router], start: "{start:%Y-%m-%d %H:%M}",
             end: "{start + dt.timedelta(minutes=10):%Y-%m-%d %H:%M}"}}
        """)
    e.tick()
    run_cycles(e, clock, 6, c1_router=0)
    assert states(spool)["c1-router"] == ("suppressed", "none")
    assert queued(spool) == []
    clock.tick(600)                              # the window is over, the router still down
    e.tick()
    run_cycles(e, clock, MIN_CYCLES, c1_router=0)
    assert states(spool)["c1-router"] == ("firing", "firing")
    assert [x["state"] for x in queued(spool)] == ["firing"]


def test_a_restart_neither_forgets_nor_repeats_an_alert(engine, clock, tmp_path) -> None:
    e, spool = engine()
    run_cycles(e, clock, 5, c1_router=0)
    assert len(queued(spool)) == 1
    again = Engine(e.config, spool, time_ns=clock, monotonic_ns=clock.monotonic)
    again.start()                                 # replays the spool's history
    run_cycles(again, clock, 2, c1_router=0)
    assert len(queued(spool)) == 1
    run_cycles(again, clock, 1, c1_router=1)
    assert [x["state"] for x in queued(spool)] == ["firing", "resolved"]


def test_a_decision_lost_in_a_crash_is_made_at_the_restart(engine, clock) -> None:
    e, spool = engine()
    samples = []
    for _ in range(5):
        clock.tick(10)
        samples.append(Sample("ping", {"agent": "a1", "site": "c1", "target": "c1-router"},
                              {"up": 0, "sent": 1, "received": 0}, clock.now))
    spool.append(samples)                          # committed, never evaluated: a crash
    again = Engine(e.config, spool, time_ns=clock, monotonic_ns=clock.monotonic)
    again.start()
    assert [x["state"] for x in queued(spool)] == ["firing"]


def test_repeats_while_firing(engine, clock) -> None:
    e, spool = engine(notify="notify:\n  webhook: [{name: hook, url: 'http://127.0.0.1:9/x', "
                             "repeat: 1h}]\n")
    run_cycles(e, clock, 5, c1_router=0)
    clock.tick(3600)
    e.tick()                       # the first message has not gone out: no repeat yet
    assert [x["notification"] for x in queued(spool)] == ["alert"]
    spool.outbox_sent([n.id for n in spool.outbox_waiting("hook")], clock.now)
    clock.tick(1800)
    e.tick()
    assert queued(spool) == []
    clock.tick(1800)
    e.tick()
    assert [x["notification"] for x in queued(spool)] == ["repeat"]
    assert queued(spool)[0]["duration_s"] == 7200 + 40     # since the first failed cycle


# -- the watcher and the agent's own health --------------------------------------------------

def test_a_silent_agent_at_a_site_already_down_is_folded_into_that_alert(
        engine, clock) -> None:
    e, spool = engine("alerts:\n  rules: {agent_silent: {for: 10m}}\n")
    run_cycles(e, clock, 5, hub_router=0, c1_router=0, c2_router=0)
    e.watch([Silence("c1-agent", "c1", clock.now - 11 * 60 * S),
             Silence("lan-agent", "lan", clock.now - 11 * 60 * S),
             Silence("hub-agent", "hub", clock.now - 60 * S)])
    assert states(spool)["c1-agent"] == ("suppressed", "none")
    assert states(spool)["lan-agent"] == ("firing", "firing")
    assert "hub-agent" not in states(spool)
    detail = next(json.loads(r.detail) for r in spool.alerts() if "c1-agent" in r.key)
    assert detail["reason"] == "merged target_down|ping|c1-router||"


def test_the_agents_own_health(engine, clock, tmp_path) -> None:
    e, spool = engine("alerts:\n  rules: {backlog: {for: 1h}, spool_full: {threshold_pct: 50,"
                      " for: 5m}, clock_stepped: {step: 1m}}\n")
    stats = spool.stats()
    e.health(stats)
    assert states(spool) == {}
    big = replace(stats, file_bytes=int(0.6 * 256 * 2**20),
                  outputs=(replace(_output(), oldest_unsent_ns=clock.now - 2 * 3600 * S),))
    e.health(big)
    assert states(spool)["a1"][0] == "firing"          # backlog at once
    assert {r.rule for r in spool.alerts()} == {"backlog"}
    clock.tick(301)
    e.health(big)
    assert {r.rule for r in spool.alerts() if r.state == "firing"} == {"backlog",
                                                                        "spool_full"}
    clock.now += 3600 * S                        # the wall clock jumps, the monotonic not
    e.health(big)
    assert "clock_stepped" in {r.rule for r in spool.alerts() if r.state == "firing"}


def _output():
    from linkwatch.agent.spool import OutputStats

    return OutputStats("influxdb:x", 10, None, 0, 0, None, None)


# -- the outbox ------------------------------------------------------------------------------

FAILING = """\
notify:
  retry_max: 1s
  command: [{name: ticket, command: ["/bin/false"], max_per_hour: 100}]
"""


def test_what_waited_past_digest_after_goes_as_one_digest(engine, clock) -> None:
    e, spool = engine("alerts:\n  digest_after: 30m\n", notify=FAILING)
    for name in ("c1-router", "c2-router"):
        run_cycles(e, clock, 5, **{name.replace("-", "_"): 0})
        run_cycles(e, clock, 1, **{name.replace("-", "_"): 1})
    dispatcher = Dispatcher(e.config, spool, time_ns=clock)
    channel = e.config.notify.named("ticket")
    rest, _ = asyncio.run(dispatcher.step(channel, Backoff(base=1, cap=1)))
    assert rest is not None and rest > 0                  # /bin/false: not delivered
    clock.tick(31 * 60)
    asyncio.run(dispatcher.step(channel, Backoff(base=1, cap=1)))
    (digest,) = spool.outbox_waiting("ticket")
    assert digest.kind == "digest" and len(json.loads(digest.event)) == 4
    message = dispatcher.message(channel, digest, clock.now)
    assert message.subject.startswith("[linkwatch] Tóm tắt 2 cảnh báo")
    assert "2 × MẤT KẾT NỐI" in message.text and "tất cả đã khôi phục" in message.text


def test_a_channel_at_its_rate_limit_waits(engine, clock, tmp_path) -> None:
    script = tmp_path / "ok.sh"
    script.write_text("#!/bin/sh\ncat >/dev/null\n")
    script.chmod(0o755)
    e, spool = engine(notify=f"notify:\n  command: [{{name: ticket, command: ['{script}'], "
                             "max_per_hour: 2}]\n")
    for name in ("c1_router", "c2_router", "hub_router"):
        run_cycles(e, clock, 5, **{name: 0})
    dispatcher = Dispatcher(e.config, spool, time_ns=clock)
    channel = e.config.notify.named("ticket")
    for _ in range(3):
        asyncio.run(dispatcher.step(channel, Backoff()))
    assert len(spool.outbox_waiting("ticket")) == 1
    assert spool.channel_stats()[0].sent == 2


def test_after_a_crash_a_handed_message_to_people_is_not_sent_again(engine, clock) -> None:
    e, spool = engine(notify="notify:\n  webhook: [{name: hook, url: 'http://127.0.0.1:9/x'}]\n"
                             "  email: [{name: mail, server: 127.0.0.1, port: 9, sender: a@b,"
                             " to: [c@d], security: none}]\n")
    run_cycles(e, clock, 5, c1_router=0)
    ids = [n.id for ch in ("hook", "mail") for n in spool.outbox_waiting(ch)]
    spool.outbox_hand(ids, clock.now)             # both mid-send when the agent died
    recover(e.config, spool)
    assert [n.channel for n in spool.outbox_waiting("hook")] == ["hook"]
    assert spool.outbox_waiting("mail") == []
    stats = {s.channel: s for s in spool.channel_stats()}
    assert (stats["mail"].unconfirmed, stats["hook"].undelivered) == (1, 1)


# -- devices, uplinks, windows -------------------------------------------------------------

SNMP = """\
agent: {name: a1, site: lan, timezone: UTC, spool: {path: spool.db}}
sites:
  - {name: lan, capacity: {down: 10Mbps, up: 10Mbps}}
  - name: c1
    parent: lan
    requirements: {max_loss_pct: 2, max_rtt: 100ms}
checks:
  ping:
    - {name: c1-router, address: 192.0.2.2, site: c1, interval: 60s}
  snmp:
    - {name: core, address: 192.0.2.1, interval: 60s, uplink: wan}
    - {name: c1-switch, address: 192.0.2.5, site: c1, interval: 60s}
alerts:
  rules:
    uplink_down:
      interfaces: [{device: c1-switch, interface: "7"}]
notify:
  webhook:
    - {name: all, url: "http://127.0.0.1:9/x"}
    - {name: critical-c1, url: "http://127.0.0.1:9/y", severities: [critical], sites: [c1],
       resolved: false}
"""


@pytest.fixture
def snmp_engine(tmp_path: Path, clock: Clock):
    path = tmp_path / "agent.yaml"
    path.write_text(SNMP)
    cfg = load_config(path)
    spool = open_spool(cfg)
    made = Engine(cfg, spool, time_ns=clock, monotonic_ns=clock.monotonic)
    made.start()
    yield made, spool
    spool.close()


def minute(engine: Engine, clock: Clock, samples: list[tuple[str, dict, dict]]) -> None:
    clock.tick(60)
    batch = [Sample(m, {"agent": "a1", **tags}, fields, clock.now) for m, tags, fields in samples]
    engine.spool.append(batch)
    engine.observe(batch)


def interface(device: str, site: str, name: str, index: str, **fields) -> tuple:
    return ("interface", {"site": site, "device": device, "if_name": name, "if_index": index},
            {"oper_status": 1, **fields})


def test_devices_uplinks_and_named_interfaces_go_down(snmp_engine, clock) -> None:
    e, spool = snmp_engine
    for _ in range(MIN_CYCLES):
        minute(e, clock, [("device", {"site": "c1", "device": "c1-switch"}, {"up": 0}),
                          interface("core", "lan", "wan", "1", oper_status=2),
                          interface("core", "lan", "lan0", "2", oper_status=2),
                          interface("c1-switch", "c1", "gi7", "7", oper_status=7)])
    firing = {(r.rule, r.key.split("|")[2], r.key.split("|")[3]) for r in spool.alerts()
              if r.state == "firing"}
    assert firing == {("device_down", "c1-switch", ""), ("uplink_down", "core", "wan"),
                      ("uplink_down", "c1-switch", "7")}


def test_a_full_uplink_and_a_poor_link(snmp_engine, clock) -> None:
    e, spool = snmp_engine
    for _ in range(16):                    # the 15-minute window fills, then judges
        minute(e, clock, [interface("core", "lan", "wan", "1", in_util_pct=95.0,
                                    out_util_pct=20.0),
                          ("ping", {"site": "c1", "target": "c1-router"},
                           {"up": 1, "sent": 5, "received": 5, "rtt_avg_ms": 150.0})])
    alerts = {r.rule: json.loads(r.detail) for r in spool.alerts() if r.state == "firing"}
    assert (alerts["link_saturated"]["direction"], alerts["link_saturated"]["value"]) == (
        "in", 95.0)
    assert (alerts["quality"]["value"], alerts["quality"]["limit"],
            alerts["quality"]["unit"]) == (150.0, 100.0, "ms")     # the site's max_rtt


def test_channels_hear_what_their_routing_takes(snmp_engine, clock) -> None:
    e, spool = snmp_engine
    for up in (0, 0, 0, 1):
        minute(e, clock, [("ping", {"site": "c1", "target": "c1-router"},
                           {"up": up, "sent": 1, "received": up}),
                          ("device", {"site": "lan", "device": "core"}, {"up": 1}),
                          interface("core", "lan", "wan", "1", oper_status=2)])
    heard = {ch: [(json.loads(n.event)["rule"], json.loads(n.event)["state"])
                  for n in spool.outbox_waiting(ch)] for ch in ("all", "critical-c1")}
    assert heard["all"] == [("target_down", "firing"), ("uplink_down", "firing"),
                            ("target_down", "resolved")]
    assert heard["critical-c1"] == [("target_down", "firing")]   # c1 only, no resolved


def test_dead_letters_fire_when_a_server_rejects_points(engine, clock) -> None:
    e, spool = engine()
    stats = spool.stats()
    e.health(replace(stats, outputs=(replace(_output(), dead_letters=3),)))
    assert states(spool) == {}
    e.health(replace(stats, outputs=(replace(_output(), dead_letters=5),)))
    assert {r.rule: r.state for r in spool.alerts()} == {"dead_letters": "firing"}
    clock.tick(3601)
    e.health(replace(stats, outputs=(replace(_output(), dead_letters=5),)))
    assert {r.rule: r.state for r in spool.alerts()} == {"dead_letters": "ok"}


def test_spool_status_and_the_status_line_show_undelivered_notifications(engine, clock) -> None:
    from linkwatch.agent.spool.summary import spool_rows

    e, spool = engine()
    run_cycles(e, clock, 5, c1_router=0)
    rows, _ = spool_rows(spool, clock.now + 60 * S, sample_s=0)
    (hook,) = [r for r in rows if r["output"] == "notify:hook"]
    assert (hook["queued"], hook["sent"], hook["oldest_unsent_age_s"]) == (1, 0, 80.0)
    import contextlib

    from linkwatch.agent.daemon.scheduler import SchedulerCounters
    from linkwatch.agent.daemon.service import Generation, status_line

    line = status_line(Generation(e.config, [], contextlib.AsyncExitStack()), spool,
                       SchedulerCounters())
    assert line.endswith("; 1 notifications undelivered")


def test_a_message_the_channel_cannot_make_is_set_aside_and_blocks_nothing(
        engine, clock, tmp_path) -> None:
    from linkwatch.agent.spool import NewNotification

    script = tmp_path / "ok.sh"
    script.write_text("#!/bin/sh\ncat >/dev/null\n")
    script.chmod(0o755)
    e, spool = engine(notify=f"notify:\n  command: [{{name: ticket, command: ['{script}']}}]\n")
    spool.record_alerts([], [NewNotification("ticket", "", "broken", "x", "alert", clock.now,
                                             "{not json")], [])
    run_cycles(e, clock, 5, c1_router=0)
    dispatcher = Dispatcher(e.config, spool, time_ns=clock)
    channel = e.config.notify.named("ticket")
    for _ in range(2):
        asyncio.run(dispatcher.step(channel, Backoff()))
    assert spool.outbox_waiting("ticket") == []
    (stats,) = spool.channel_stats()
    assert stats.sent == 1 and stats.last_error.startswith("JSONDecodeError")
