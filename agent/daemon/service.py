"""The running agent: checks → spool → outputs, with signals, reload and sd_notify.

One *generation* is everything started from one config: its opened probes, a task per
check, a shipper per output and the periodic jobs. SIGHUP builds the next generation from
the re-read config and stops the old one; an invalid config is logged and the old one kept.
SIGTERM stops the checks (in-flight probes are abandoned), lets each shipper finish its
request for a moment, commits and exits within 5 s.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from linkwatch.agent.alerts.evaluate import Engine
from linkwatch.agent.alerts.outbox import Dispatcher, recover
from linkwatch.agent.config.schema import Config, Output
from linkwatch.agent.config.secrets import collect_secrets
from linkwatch.agent.daemon import sdnotify
from linkwatch.agent.daemon.checks import open_checks
from linkwatch.agent.daemon.logs import RedactSecrets
from linkwatch.agent.daemon.scheduler import ScheduledCheck, SchedulerCounters, run_check, run_once
from linkwatch.agent.daemon.sink import SpoolSink
from linkwatch.agent.spool import Spool, open_spool
from linkwatch.collector import Sample

log = logging.getLogger("linkwatch.agent")

HEALTH_INTERVAL_S = 60.0      # the `linkwatch` self-measurement: at least this often, and
                              # every cycle of the fastest check when that is shorter
PRUNE_INTERVAL_S = 3600.0     # how often history past its retention is removed
STATUS_INTERVAL_S = 30.0      # how often systemd's STATUS= line is refreshed at the latest
STATUS_MIN_GAP_S = 1.0        # targets changing state together give one STATUS= update
SHIPPER_GRACE_S = 2.0         # on stop, how long an in-flight request may still finish
ONCE_FLUSH_S = 15.0           # `--once`: how long delivery may take before giving up
ALERT_TICK_S = 2.0            # maintenance windows opening and closing, repeats


@dataclass
class Generation:
    """What one config started; `close` stops all of it."""

    config: Config
    checks: list[ScheduledCheck]
    exit_stack: contextlib.AsyncExitStack
    stop_shipping: asyncio.Event = field(default_factory=asyncio.Event)
    check_tasks: list[asyncio.Task] = field(default_factory=list)
    shipper_tasks: list[asyncio.Task] = field(default_factory=list)   # and notifications
    wakes: list[asyncio.Event] = field(default_factory=list)
    sink: SpoolSink | None = None
    alerts: Engine | None = None
    alert_jobs: list[asyncio.Task] = field(default_factory=list)   # tick, watcher

    async def close(self) -> None:
        for task in self.check_tasks + self.alert_jobs:
            task.cancel()
        self.stop_shipping.set()
        await asyncio.gather(*self.check_tasks, *self.alert_jobs, return_exceptions=True)
        if self.sink is not None:
            self.sink.flush()
        if self.shipper_tasks:
            # an in-flight write or notification may finish (and be recorded) for a moment
            _, pending = await asyncio.wait(self.shipper_tasks, timeout=SHIPPER_GRACE_S + 0.5)
            for task in pending:
                task.cancel()
            await asyncio.gather(*self.shipper_tasks, return_exceptions=True)
        await self.exit_stack.aclose()


def health_sample(config: Config, spool: Spool, counters: SchedulerCounters) -> Sample:
    """The agent's own health: the `linkwatch` measurement."""
    stats = spool.stats()
    fields: dict[str, int] = {
        "spool_rows": stats.rows,
        "spool_bytes": stats.file_bytes,
        "collected": stats.collected_total,
        "sent": sum(o.sent_total for o in stats.outputs),
        "dropped": stats.dropped_total,
        "send_errors": sum(o.send_errors for o in stats.outputs),
        "poll_overruns": counters.overruns,
    }
    last_ok = [o.last_send_ok_ns for o in stats.outputs if o.last_send_ok_ns]
    if last_ok:
        fields["last_send_ok"] = max(last_ok) // 1_000_000_000
    tags = {"agent": config.agent.name, "site": config.agent.site}
    return Sample("linkwatch", tags, fields, time.time_ns())


def health_interval(config: Config) -> float:
    """Seconds between `linkwatch` points: one per cycle of the fastest check, at most 60 s.

    Per cycle, so `collected`/`sent`/`dropped` can be lined up with the data they count.
    """
    intervals = [c.interval_s for c in config.checks.all]
    return max(1.0, min([HEALTH_INTERVAL_S, *intervals]))


def status_line(generation: Generation, spool: Spool, counters: SchedulerCounters) -> str:
    """One line for `systemctl status`: checks failing, the send queue, the outbox."""
    failing = sum(1 for h in counters.checks.values() if h.last_error is not None)
    down = _targets_down(generation.config, spool)
    queued = sum(o.queued for o in spool.stats().outputs)
    line = (f"{len(generation.checks)} checks, {failing} failing, {down} targets down; "
            f"{queued} points queued")
    undelivered = sum(c.undelivered for c in spool.channel_stats())
    if undelivered:
        line += f"; {undelivered} notifications undelivered"
    return line


def _targets_down(config: Config, spool: Spool) -> int:
    rules = {p.state.measurement for p in config.probes if p.state is not None}
    return sum(1 for m in sorted(rules) for s in spool.latest(m) if s.fields.get("up") == 0)


async def start_generation(
    config: Config, spool: Spool, counters: SchedulerCounters, *, schedule: bool = True,
    on_state_change: Callable[[], None] | None = None,
) -> Generation:
    """Open the config's checks and, with `schedule`, start polling and shipping.

    `on_state_change` is called when a target's `up` changes (or is first seen).
    """
    exit_stack = contextlib.AsyncExitStack()
    checks = await open_checks(config, spool, exit_stack)
    generation = Generation(config, checks, exit_stack)
    if not schedule:
        return generation
    generation.wakes = [asyncio.Event() for _ in config.outputs]
    dispatcher = Dispatcher(config, spool)
    generation.alerts = Engine(config, spool, wake=dispatcher.wake)
    generation.alerts.start()
    generation.sink = SpoolSink(spool, generation.wakes, on_state_change,
                                committed=generation.alerts.observe)
    sink = generation.sink
    rng = random.Random()
    generation.check_tasks = [
        asyncio.create_task(run_check(c, sink, counters, rng=rng), name=f"{c.kind}/{c.name}")
        for c in checks
    ]
    generation.shipper_tasks = [
        asyncio.create_task(_ship(spool, output, generation.stop_shipping, wake))
        for output, wake in zip(config.outputs, generation.wakes, strict=True)
    ]
    generation.shipper_tasks.append(
        asyncio.create_task(dispatcher.run(generation.stop_shipping), name="notifications"))
    generation.alert_jobs = [asyncio.create_task(_every(lambda: ALERT_TICK_S,
                                                        generation.alerts.tick))]
    if config.alerts.watch:
        generation.alert_jobs.append(asyncio.create_task(_watch(config, generation.alerts)))
    generation.check_tasks += [
        asyncio.create_task(check_retention(spool, output, float(config.agent.spool.history)),
                            name=f"retention/{output.queue_name}")
        for output in config.outputs]
    log.info("started %d checks and %d outputs", len(checks), len(config.outputs))
    return generation


async def _watch(config: Config, engine: Engine) -> None:
    """The watcher (`alerts.watch: true`): agent_silent on the central store, each
    `alerts.watch_every`. The store is asked in a thread: a slow one never holds the loop."""
    from linkwatch.agent.alerts.watcher import silences
    from linkwatch.agent.query.errors import QueryFailed
    from linkwatch.collector.blocking import in_daemon_thread

    failing = False
    while True:
        try:
            found = await in_daemon_thread(silences, config, time.time_ns())
        except QueryFailed as e:
            if not failing:
                log.warning("the watcher cannot read the central store (%s); agent_silent "
                            "is not judged until it can", e)
            failing = True
        except Exception:
            log.exception("the watcher failed")
        else:
            if failing:
                log.info("the watcher reads the central store again")
            failing = False
            engine.watch(found)
        await asyncio.sleep(float(config.alerts.watch_every))


async def _ship(spool: Spool, output: Output, stop: asyncio.Event,
                wake: asyncio.Event | None) -> None:
    from linkwatch.agent.outputs.shipper import ship

    try:
        await ship(spool, output, stop=stop, wake=wake)
    except Exception:  # a shipper bug must not stop polling: the points stay queued
        log.exception("output %s stopped on an error; its points stay spooled",
                      output.queue_name)


async def check_retention(spool: Spool, output: Output, history_s: float) -> None:
    """At start: warn when the server would drop part of the backlog (older than its
    retention) or count resent points twice; the server is asked in a thread."""
    from linkwatch.agent.outputs.retention import (
        LimitsUnknown,
        backlog_notes,
        dedup_warning,
        read_limits,
    )
    from linkwatch.collector.blocking import in_daemon_thread

    try:
        limits = await in_daemon_thread(read_limits, output)
    except LimitsUnknown as e:
        log.info("output %s: retention not checked: %s", output.queue_name, e)
        return
    stats = next((o for o in spool.stats().outputs if o.output == output.queue_name), None)
    notes = [] if stats is None else backlog_notes(
        output, stats.oldest_unsent_ns,
        lambda t: spool.queued_before(output.queue_name, t), history_s, time.time_ns(),
        limits=limits)
    for note in [*notes, dedup_warning(output, limits)]:
        if note:
            log.warning("%s", note)


async def run_agent(
    config: Config, *, once: bool = False, redactor: RedactSecrets | None = None
) -> int:
    """Run until SIGTERM/SIGINT (or one cycle with `once`); the process exit status.

    `redactor` is the log filter that hides the config's secrets; a reload updates it.
    """
    spool = open_spool(config)
    counters = SchedulerCounters()
    try:
        if once:
            await _run_once(config, spool, counters)
            return 0
        return await _run_forever(config, spool, counters, redactor)
    finally:
        spool.close()


async def _run_once(config: Config, spool: Spool, counters: SchedulerCounters) -> None:
    generation = await start_generation(config, spool, counters, schedule=False)
    try:
        await asyncio.gather(*(check_retention(spool, o, float(config.agent.spool.history))
                               for o in config.outputs))
        sink = SpoolSink(spool)
        await run_once(generation.checks, sink, counters)
        sink.flush()
        spool.append([health_sample(config, spool, counters)])
        await asyncio.gather(*(_flush(spool, o) for o in config.outputs))
    finally:
        await generation.exit_stack.aclose()


async def _flush(spool: Spool, output: Output) -> None:
    """Deliver the output's queue until it is empty, delivery fails, or time is up."""
    from linkwatch.agent.outputs.shipper import ShipperState, ship

    stop, state = asyncio.Event(), ShipperState()
    deadline = time.monotonic() + ONCE_FLUSH_S

    async def watch() -> None:
        while not stop.is_set():
            if (_queued(spool, output) == 0 or state.last_error
                    or time.monotonic() > deadline):
                stop.set()
            await asyncio.sleep(0.1)

    watcher = asyncio.create_task(watch())
    await ship(spool, output, stop=stop, state=state)
    await watcher
    if state.last_error:
        log.warning("output %s: %s; %d points stay spooled", output.queue_name,
                    state.last_error, _queued(spool, output))


def _queued(spool: Spool, output: Output) -> int:
    return next(o.queued for o in spool.stats().outputs if o.output == output.queue_name)


@dataclass
class Running:
    """The agent between signals: its spool and the generation the current config started."""

    spool: Spool
    generation: Generation
    counters: SchedulerCounters
    redactor: RedactSecrets | None = None
    status_due: asyncio.Event = field(default_factory=asyncio.Event)

    def write_health(self) -> None:
        self.spool.append([health_sample(self.generation.config, self.spool, self.counters)])
        if self.generation.alerts is not None:
            self.generation.alerts.health(self.spool.stats())

    def status_line(self) -> str:
        return status_line(self.generation, self.spool, self.counters)


async def _run_forever(
    config: Config, spool: Spool, counters: SchedulerCounters, redactor: RedactSecrets | None
) -> int:
    loop = asyncio.get_running_loop()
    stop, reload = asyncio.Event(), asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    loop.add_signal_handler(signal.SIGHUP, reload.set)
    notifier = sdnotify.Notifier.from_environment()
    status_due = asyncio.Event()
    recover(config, spool)        # what the last stop left in mid-send (docs/alerts.md)
    generation = await start_generation(config, spool, counters, on_state_change=status_due.set)
    running = Running(spool, generation, counters, redactor, status_due)
    jobs = [
        asyncio.create_task(_every(lambda: health_interval(running.generation.config),
                                   running.write_health)),
        asyncio.create_task(_every(lambda: PRUNE_INTERVAL_S, lambda: running.spool.prune())),
        asyncio.create_task(_report_status(notifier, running)),
    ]
    watchdog = sdnotify.watchdog_interval()
    if watchdog:
        jobs.append(asyncio.create_task(sdnotify.watchdog_loop(notifier, watchdog, stop)))
    notifier.ready(running.status_line())
    try:
        while not stop.is_set():
            await _first_of(stop, reload)
            if reload.is_set() and not stop.is_set():
                reload.clear()
                notifier.reloading()
                await _reload(running)
                notifier.ready(running.status_line())
    finally:
        notifier.stopping()
        log.info("stopping")
        for job in jobs:
            job.cancel()
        await asyncio.gather(*jobs, return_exceptions=True)
        await running.generation.close()
        running.write_health()
    return 0


async def _reload(running: Running) -> None:
    """Re-read the config; on success replace the generation, else keep the old one."""
    from linkwatch.agent.config import ConfigError, load_config

    old = running.generation.config
    if old.source is None:     # only a config built in code, never the agent's own
        log.error("config reload failed: the running config was not read from a file")
        return
    try:
        new = load_config(old.source)
    except ConfigError as e:
        log.error("config reload failed; keeping the running config:\n%s", e)
        return
    except OSError as e:
        log.error("config reload failed (%s); keeping the running config", e)
        return
    except Exception:  # a loader bug must not end the agent: it runs on what it had
        log.exception("config reload failed reading %s; keeping the running config",
                      old.source)
        return
    await running.generation.close()
    try:
        await _start(running, new, old)
    except Exception:  # e.g. a probe that cannot open its sockets with the new settings
        log.exception("the reloaded config could not be started; going back to the "
                      "running one")
        await _start(running, old, new)
        return
    if running.redactor is not None:
        running.redactor.replace(collect_secrets(new))
    log.info("config reloaded from %s", new.source)


async def _start(running: Running, config: Config, previous: Config) -> None:
    """A generation for `config`, reopening the spool if its settings or outputs changed."""
    if config.agent.spool != previous.agent.spool or config.outputs != previous.outputs:
        running.spool.close()
        running.spool = open_spool(config)
    running.generation = await start_generation(
        config, running.spool, running.counters, on_state_change=running.status_due.set)


async def _report_status(notifier: sdnotify.Notifier, running: Running) -> None:
    """STATUS= for `systemctl status`: soon after a target changes state, else every 30 s."""
    while True:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(running.status_due.wait(), timeout=STATUS_INTERVAL_S)
        running.status_due.clear()
        try:
            notifier.status(running.status_line())
        except Exception:
            log.exception("status update for systemd failed")
        await asyncio.sleep(STATUS_MIN_GAP_S)


async def _every(interval: Callable[[], float], job: Callable[[], object]) -> None:
    """Run `job` forever, `interval()` seconds apart (asked anew: a reload may change it)."""
    while True:
        await asyncio.sleep(interval())
        try:
            job()
        except Exception:
            log.exception("periodic job failed")


async def _first_of(*events: asyncio.Event) -> None:
    waiters = [asyncio.create_task(e.wait()) for e in events]
    _, pending = await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
