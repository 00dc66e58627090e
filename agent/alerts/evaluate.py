"""The engine: every rule evaluated on the agent's own samples as they are committed, each
change recorded in the spool with its notifications and its `alert` point.

    engine = Engine(config, spool, wake=dispatcher.wake)
    engine.start()                  # recorded states, then a replay of recent history
    engine.observe(samples)         # after each commit (agent/daemon/sink.py)
    engine.health(spool.stats())    # the agent's own health rules, each health interval
    engine.watch(silences)          # agent_silent, from the watcher (watcher.py)
    engine.tick()                   # maintenance windows opening and closing, repeats

Cheap per cycle: a sample moves its subject's run (one comparison) and its subject alone is
judged again; a site whose link goes down or comes back makes the subjects behind it judged
again. Only changes touch the spool.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from linkwatch.agent.alerts.channels import recipients
from linkwatch.agent.alerts.event import Event, Subject
from linkwatch.agent.alerts.maintenance import OpenWindows
from linkwatch.agent.alerts.messages import Words
from linkwatch.agent.alerts.rules import STATE_RULES, Settings, routes, settings
from linkwatch.agent.alerts.state import (
    CLEAR,
    FIRING,
    FLAPPING,
    OK,
    SUPPRESSED,
    Condition,
    Decision,
    Tracked,
    Window,
    decide,
    held,
)
from linkwatch.agent.config.schema import Check, Config, SiteRequirements
from linkwatch.agent.spool import AlertRecord, DiskFull, NewNotification, Spool, SpoolStats
from linkwatch.collector.sample import Sample
from linkwatch.collector.snmp.check import UPLINK_TAGS, names_interface

log = logging.getLogger("linkwatch.alerts")

RULE_OF = {"ping": "target_down", "device": "device_down"}   # state measurement → rule
EVENT_HOLD_S = 3600.0        # dead_letters, clock_stepped: firing until an hour passes quiet
REPLAY_MAX_S = 6 * 3600.0    # history read back at start, at most
PING_FIELDS = ("up", "sent", "received", "rtt_avg_ms")
INTERFACE_FIELDS = ("oper_status", "in_util_pct", "out_util_pct")


@dataclass(frozen=True)
class Silence:
    """Another agent as the central store sees it (watcher.py)."""

    agent: str
    site: str
    last_ns: int                       # its newest `linkwatch` health point
    site_down: tuple[str, ...] = ()    # its site's targets DOWN in the store (by others)


@dataclass
class _Interface:
    """An interface watched on one device: its oper status, and (an uplink) its load."""

    name: str
    oper: Tracked
    load: dict[str, Window] = field(default_factory=dict)     # direction → window

    def matches(self, tags: Mapping[str, str]) -> bool:
        return names_interface(self.name, *map(tags.get, UPLINK_TAGS))


class Engine:
    def __init__(self, config: Config, spool: Spool, *,
                 wake: Callable[[set[str]], None] | None = None,
                 time_ns: Callable[[], int] = time.time_ns,
                 monotonic_ns: Callable[[], int] = time.monotonic_ns) -> None:
        self.config = config
        self.spool = spool
        self.agent = config.agent.name
        self.rules = config.alerts
        self.min_cycles = config.alerts.outage_cycles
        self.channels = config.notify.channels
        self.words = Words(config.alerts.language, config.tz)
        self.records: dict[str, AlertRecord] = {}
        self.time_ns = time_ns
        self.monotonic_ns = monotonic_ns
        self._wake = wake or (lambda channels: None)
        self._settings: dict[str, Settings] = {}
        self.parents = config.parents()
        self._children: dict[str, list[str]] = defaultdict(list)
        for site, parent in self.parents.items():
            if parent:
                self._children[parent].append(site)
        self.states: dict[tuple[str, str], Tracked] = {}      # (measurement, name)
        self._members: dict[str, list[Tracked]] = defaultdict(list)   # site → ping, snmp
        self._at_site: dict[str, list[Tracked]] = defaultdict(list)   # site → every state
        self._interfaces: dict[str, list[_Interface]] = defaultdict(list)   # device →
        self._quality: dict[str, Window] = {}
        self._limits: dict[str, tuple[float, float]] = {}    # site → max loss %, max RTT ms
        self._down: set[str] = set()                   # sites whose every target fails
        self.open = OpenWindows(config.maintenance, config.tz)
        self._pending: dict[str, int] = {}             # self rules: when the condition began
        self._dead: tuple[int, int | None] | None = None   # (dead letters seen, last rise)
        self._clock: tuple[int, int | None, float] | None = None
        self._told: dict[tuple[str, str], int] = {}    # (alert, channel) → last queued
        self._failing_record = False
        for check in config.checks.with_state():
            self._add_check(check)
        for watched in config.alerts.rules.uplink_down.interfaces:
            device = config.checks.named("snmp", watched.device)
            if device is not None:
                self._add_interface(device, watched.interface, load=False)

    # -- the subjects -------------------------------------------------------------------

    def _add_check(self, check: Check) -> None:
        assert check.probe.state is not None
        measurement = check.probe.state.measurement
        rule = RULE_OF.get(measurement)
        if rule is None:
            return
        step = int(check.interval_s * 1e9)
        tracked = Tracked(Subject(rule, check.kind, check.name, check.site), step)
        self.states[(measurement, check.name)] = tracked
        self._members[check.site].append(tracked)
        self._at_site[check.site].append(tracked)
        if check.kind == "ping":
            subject = Subject("quality", "ping", check.name, check.site)
            span = self._setting(subject).for_s
            self._quality[check.name] = Window(subject, int(span * 1e9), step)
        if check.uplink is not None:
            self._add_interface(check, check.uplink.interface, load=True)

    def _add_interface(self, check: Check, interface: str, *, load: bool) -> None:
        step = int(check.interval_s * 1e9)
        oper = Tracked(Subject("uplink_down", "uplink", check.name, check.site, interface),
                       step)
        watch = _Interface(interface, oper)
        if load:
            for direction in ("in", "out"):
                subject = Subject("link_saturated", "uplink", check.name, check.site,
                                  interface, direction)
                watch.load[direction] = Window(subject, int(self._setting(subject).for_s * 1e9),
                                               step)
        self._interfaces[check.name].append(watch)
        self._at_site[check.site].append(oper)

    def _setting(self, subject: Subject) -> Settings:
        found = self._settings.get(subject.key)
        if found is None:
            found = settings(self.rules, subject.rule, subject.site, subject.check)
            self._settings[subject.key] = found
        return found

    def _windows(self) -> Iterable[Window]:
        yield from self._quality.values()
        for watches in self._interfaces.values():
            for watch in watches:
                yield from watch.load.values()

    def _trackers(self) -> Iterable[Tracked]:
        for group in self._at_site.values():
            yield from group

    # -- start ----------------------------------------------------------------------------

    def start(self) -> None:
        """Load the recorded states, replay recent history into the runs and windows, and
        record whatever differs (what a crash between a commit and its evaluation lost)."""
        self.records = {r.key: r for r in self.spool.alerts()}
        now = self.time_ns()
        self.open.refresh(now)
        since = now - int(self._lookback_s() * 1e9)
        wanted = {m for m, _ in self.states} | ({"interface"} if self._interfaces else set())
        for measurement in sorted(wanted):
            fields = {"ping": PING_FIELDS, "interface": INTERFACE_FIELDS}.get(measurement,
                                                                            ("up",))
            self.observe(list(self.spool.history(measurement, since, now + 1, fields=fields)),
                         judge=False)
        self._down = {site for site in self._members if self._site_down(site)}
        decisions = [self._judge_state(t, now) for t in self._trackers()]
        decisions += [self._judge_window(w, now) for w in self._windows()]
        decisions += self._forget_gone(now)
        self._record(decisions, now)

    def _lookback_s(self) -> float:
        steps = [t.interval_ns / 1e9 for t in self._trackers()] or [60.0]
        spans = [w.span_ns / 1e9 for w in self._windows()]
        return min(REPLAY_MAX_S, max([2 * self.min_cycles * max(steps),
                                      float(self.rules.flapping.within), *spans]))

    def _forget_gone(self, now: int) -> list[Decision | None]:
        """Alerts of subjects the config no longer has (or whose rule is now off) resolve."""
        known = {t.subject.key for t in self._trackers()} | {w.subject.key
                                                           for w in self._windows()}
        gone = []
        for key, record in self.records.items():
            if record.rule in (*STATE_RULES, "quality", "link_saturated") \
                    and key not in known and record.state != OK:
                subject = Event.from_json(record.detail).subject
                gone.append(decide(record, CLEAR, subject, Settings(True, record.severity, 0),
                                   self.agent, now))
        return gone

    # -- samples ---------------------------------------------------------------------------

    def observe(self, samples: Sequence[Sample], *, judge: bool = True) -> None:
        """The agent's samples, just committed: move their subjects, judge what moved."""
        moved: dict[Tracked, None] = {}            # in order, once each
        windows: list[Window] = []
        flipped: set[str] = set()
        for s in samples:
            m = s.measurement
            if m == "ping" or m == "device":
                name = s.tags.get("target" if m == "ping" else "device")
                tracked = self.states.get((m, name or ""))
                up = s.fields.get("up")
                if tracked is None or not isinstance(up, int | float):
                    continue
                was = tracked.failing
                tracked.add(s.time_ns, bool(up))
                if tracked.failing != was:
                    flipped.add(tracked.subject.site)
                moved[tracked] = None
                if m == "ping" and name in self._quality:
                    window = self._quality[name]
                    rtt = s.fields.get("rtt_avg_ms")
                    window.add(s.time_ns, (float(up), float(s.fields.get("sent", 0)),
                                           float(s.fields.get("received", 0)),
                                           float(rtt) if isinstance(rtt, int | float)
                                           else float("nan")))
                    windows.append(window)
            elif m == "interface":
                for watch in self._interfaces.get(s.tags.get("device", ""), ()):
                    if not watch.matches(s.tags):
                        continue
                    oper = s.fields.get("oper_status")
                    if isinstance(oper, int | float):
                        watch.oper.add(s.time_ns, int(oper) == 1)
                        moved[watch.oper] = None
                    for direction, window in watch.load.items():
                        util = s.fields.get(f"{direction}_util_pct")
                        if isinstance(util, int | float):
                            window.add(s.time_ns, (float(util),))
                            windows.append(window)
        if judge and (moved or windows):
            self._judge(moved, windows, flipped)

    def _judge(self, moved: dict[Tracked, None], windows: list[Window],
               flipped: set[str]) -> None:
        now = self.time_ns()
        for site in flipped:
            down = self._site_down(site)
            if down == (site in self._down):
                continue
            if down:
                self._down.add(site)
            else:
                self._down.discard(site)
            # what stands behind the site is (or is no longer) UNREACHABLE
            for child in self._descendants(site):
                moved.update(dict.fromkeys(self._at_site.get(child, ())))
        decisions = [self._judge_state(t, now) for t in moved]
        decisions += [self._judge_window(w, now) for w in dict.fromkeys(windows)]
        self._record(decisions, now)

    def _site_down(self, site: str) -> bool:
        members = self._members.get(site, ())
        return bool(members) and all(t.failing for t in members)

    def _descendants(self, site: str) -> list[str]:
        found, stack = [], list(self._children.get(site, ()))
        while stack:
            child = stack.pop()
            if child not in found:
                found.append(child)
                stack.extend(self._children.get(child, ()))
        return found

    def _excuse(self, subject: Subject) -> tuple[str | None, bool]:
        """Why failures of `subject` do not count now, and whether it is in maintenance."""
        window = self.open.covering(subject.site, subject.check)
        if window is not None:
            return f"maintenance {window}", True
        parent = self.parents.get(subject.site)
        if parent and parent in self._down:
            return f"parent {parent}", False
        return None, False

    def _judge_state(self, tracked: Tracked, now: int) -> Decision | None:
        subject = tracked.subject
        setting = self._setting(subject)
        record = self.records.get(subject.key)
        excuse, quiet = self._excuse(subject)
        condition = tracked.condition(setting, self.min_cycles, self.rules.flapping, now,
                                      excuse=excuse, previous=record.state if record else OK)
        if condition is None:
            return None
        if not setting.enabled:
            condition = CLEAR
        elif condition.state == FIRING and subject.site in self._down \
                and subject.kind in ("ping", "snmp"):
            condition = replace(condition, cut_off=self._cut_off(subject.site))
        return decide(record, condition, subject, setting, self.agent, now, quiet=quiet)

    def _cut_off(self, site: str) -> tuple[tuple[str, str], ...]:
        """The failing targets behind a site whose link is down."""
        return tuple(sorted((child, t.subject.name) for child in self._descendants(site)
                            for t in self._members.get(child, ()) if t.failing))

    def _judge_window(self, window: Window, now: int) -> Decision | None:
        subject = window.subject
        setting = self._setting(subject)
        record = self.records.get(subject.key)
        if subject.rule == "link_saturated":
            condition = window.saturation(setting)
        else:
            condition = window.quality(*self._quality_limits(subject.site))
        if condition is None:
            return None
        excuse, quiet = self._excuse(subject)
        if not setting.enabled:
            condition = CLEAR
        elif condition.state == FIRING and excuse is not None:
            condition = Condition(SUPPRESSED, condition.since_ns, condition.value,
                                  condition.limit, condition.unit, reason=excuse)
        return decide(record, condition, subject, setting, self.agent, now, quiet=quiet)

    def _quality_limits(self, site: str) -> tuple[float, float]:
        """The site's declared loss and RTT limits (its `requirements`)."""
        found = self._limits.get(site)
        if found is None:
            declared = self.config.site(site)
            req = declared.requirements if declared is not None else SiteRequirements()
            found = self._limits[site] = (req.max_loss_pct, float(req.max_rtt) * 1000)
        return found

    # -- the agent's own health ------------------------------------------------------------

    def health(self, stats: SpoolStats) -> None:
        """The self-health rules on the spool's statistics (each health interval)."""
        now = self.time_ns()
        decisions = []
        for rule, condition in self._self_conditions(stats, now).items():
            subject = self._self_subject(rule)
            setting = self._setting(subject)
            if rule in ("spool_full", "disk_low"):
                if condition.state == FIRING:
                    began = self._pending.setdefault(subject.key, now)
                    condition = held(condition, began, setting, now)
                else:
                    self._pending.pop(subject.key, None)
            if not setting.enabled:
                condition = CLEAR
            _, quiet = self._excuse(subject)
            decisions.append(decide(self.records.get(subject.key), condition, subject,
                                    setting, self.agent, now, quiet=quiet))
        self._record(decisions, now)

    def _self_conditions(self, stats: SpoolStats, now: int) -> dict[str, Condition]:
        found: dict[str, Condition] = {}
        oldest = [o.oldest_unsent_ns for o in stats.outputs if o.oldest_unsent_ns]
        age = (now - min(oldest)) / 1e9 if oldest else 0.0
        wait = self._setting(self._self_subject("backlog")).for_s
        found["backlog"] = Condition(FIRING, min(oldest), round(age), wait, "s") \
            if oldest and age > wait else CLEAR
        dead = sum(o.dead_letters for o in stats.outputs)
        if self._dead is None:           # the first look: only rises from now on count
            record = self.records.get(self._self_subject("dead_letters").key)
            rose = record.since_ns if record and record.state == FIRING else None
        else:
            rose = now if dead > self._dead[0] else self._dead[1]
        self._dead = (dead, rose)
        found["dead_letters"] = Condition(FIRING, rose, float(dead)) \
            if rose is not None and (now - rose) / 1e9 < EVENT_HOLD_S else CLEAR
        cap = float(self.config.agent.spool.max_size)
        used = 100.0 * stats.file_bytes / cap if cap else 0.0
        found["spool_full"] = Condition(FIRING, now, round(used, 1), self._limit("spool_full"),
                                        "%") if used > self._limit("spool_full") else CLEAR
        disk = _disk_used_pct(stats)
        found["disk_low"] = Condition(FIRING, now, round(disk, 1), self._limit("disk_low"),
                                      "%") if disk is not None and \
            disk > self._limit("disk_low") else CLEAR
        found["clock_stepped"] = self._clock_condition(now)
        return found

    def _limit(self, rule: str) -> float:
        return self._setting(self._self_subject(rule)).threshold_pct or 100.0

    def _self_subject(self, rule: str) -> Subject:
        return Subject(rule, "self", self.agent, self.config.agent.site)

    def _clock_condition(self, now: int) -> Condition:
        offset = now - self.monotonic_ns()
        limit = float(self.rules.rules.clock_stepped.step)
        if self._clock is None:
            self._clock = (offset, None, 0.0)
        elif abs(offset - self._clock[0]) / 1e9 > limit:
            self._clock = (offset, now, (offset - self._clock[0]) / 1e9)
        else:
            self._clock = (offset, self._clock[1], self._clock[2])
        stepped, by = self._clock[1], self._clock[2]
        if stepped is not None and (now - stepped) / 1e9 < EVENT_HOLD_S:
            return Condition(FIRING, stepped, round(abs(by)), limit, "s")
        return CLEAR

    # -- the watcher -----------------------------------------------------------------------

    def watch(self, silences: Iterable[Silence]) -> None:
        """agent_silent for each agent the central store knows (watcher.py), merged with the
        site's state: a silent agent whose site this agent already alerts on (a target there
        is down or cut off) is folded into that alert; one whose site the store shows down
        fires once, saying so."""
        now = self.time_ns()
        decisions = []
        for s in silences:
            if s.agent == self.agent:
                continue
            subject = Subject("agent_silent", "agent", s.agent, s.site)
            setting = self._setting(subject)
            silent_s = (now - s.last_ns) / 1e9
            if not setting.enabled or silent_s <= setting.for_s:
                condition = CLEAR
            elif (merged := self._site_alert(s.site)) is not None:
                condition = Condition(SUPPRESSED, s.last_ns, round(silent_s),
                                      setting.for_s, "s", reason=f"merged {merged}")
            else:
                condition = Condition(FIRING, s.last_ns, round(silent_s), setting.for_s, "s",
                                      site_down=s.site_down)
            _, quiet = self._excuse(subject)
            decisions.append(decide(self.records.get(subject.key), condition, subject, setting,
                                    self.agent, now, quiet=quiet))
        self._record(decisions, now)

    def _site_alert(self, site: str) -> str | None:
        """The key of this agent's own alert on a target at `site` that is down or cut off."""
        for record in self.records.values():
            if record.site == site and record.rule in ("target_down", "device_down") \
                    and record.state in (FIRING, SUPPRESSED, FLAPPING):
                return record.key
        return None

    # -- time passing ------------------------------------------------------------------------

    def tick(self) -> None:
        """Windows opening or closing, and repeats of what still fires (every few seconds)."""
        now = self.time_ns()
        decisions: list[Decision | None] = []
        if self.open.refresh(now):
            decisions += [self._judge_state(t, now) for t in self._trackers()]
            decisions += [self._judge_window(w, now) for w in self._windows()]
        self._record(decisions, now)
        self._repeat(now)

    def _repeat(self, now: int) -> None:
        notes = []
        for record in list(self.records.values()):
            if record.state not in (FIRING, FLAPPING) or record.notified == "none":
                continue
            event: Event | None = None
            for channel in self.channels:
                if channel.repeat is None:
                    continue
                event = event or Event.from_json(record.detail)
                if self._excuse(event.subject)[1] or not routes(channel, event):
                    continue
                last = self._told.get((record.key, channel.name))
                if last is None:
                    last = self.spool.outbox_last_created_ns(record.key, channel.name) or now
                    self._told[(record.key, channel.name)] = last
                if (now - last) / 1e9 < channel.repeat:
                    continue
                self._told[(record.key, channel.name)] = now
                if any(n.alert_key == record.key
                       for n in self.spool.outbox_waiting(channel.name)):
                    continue            # the last word has not gone out yet: no second one
                again = replace(event, at_ns=now)
                notes += [NewNotification(channel.name, r, again.dedupe_key(), record.key,
                                          "repeat", now, again.to_json())
                          for r in recipients(channel)]
        if notes:
            self._commit([], notes, [], {n.channel for n in notes})

    # -- recording ---------------------------------------------------------------------------

    def _record(self, decisions: Sequence[Decision | None], now: int) -> None:
        made = [d for d in decisions if d is not None]
        if not made:
            return
        notes = []
        for d in made:
            if not d.notify:
                continue
            for channel in self.channels:
                if routes(channel, d.event):
                    notes += [NewNotification(channel.name, r, d.event.dedupe_key(), d.record.key,
                                              "alert", now, d.event.to_json())
                              for r in recipients(channel)]
                    self._told[(d.record.key, channel.name)] = now
        points = [d.event.point(self.words.short(d.event)) for d in made if d.changed]
        if not self._commit([d.record for d in made], notes, points,
                            {n.channel for n in notes}):
            return
        for d in made:
            self.records[d.record.key] = d.record
            if d.changed:
                e = d.event
                log.log(logging.WARNING if e.state in ("firing", "flapping") else logging.INFO,
                        "alert %s %s (%s): %s since %s%s", e.rule, e.subject.name,
                        e.subject.site, e.state, _clock(e.since_ns),
                        f" ({e.reason})" if e.reason else "")

    def _commit(self, records: list[AlertRecord], notes: list[NewNotification],
                points: list[Sample], channels: set[str]) -> bool:
        try:
            self.spool.record_alerts(records, notes, points)
        except (DiskFull, sqlite3.Error) as e:
            if not self._failing_record:
                log.error("alert states cannot be recorded (%s); they are decided again "
                          "with the next samples", e)
            self._failing_record = True
            return False
        self._failing_record = False
        if channels:
            self._wake(channels)
        return True


def _disk_used_pct(stats: SpoolStats) -> float | None:
    try:
        st = os.statvfs(stats.path.parent)
    except OSError:
        return None
    if not st.f_blocks:
        return None
    return 100.0 * (1 - st.f_bavail / st.f_blocks)


def _clock(time_ns: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(time_ns / 1e9))
