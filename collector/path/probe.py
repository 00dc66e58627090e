"""Path probes on state changes: a trace toward a ping target when it goes down or comes back.

`watch_paths` wraps the ping checks' collectors. After each ping cycle it reads the `up`
and `loss_pct` fields; when the target's state changes (up → down, down → up, up → lossy,
or the very first cycle is not up) it starts a trace toward the address just pinged, in the
background. The `path` sample joins the ping sample of the same cycle when the trace ends
within the cycle's time limit, else it is returned with the next cycle; either way it goes
to the same sink and carries the time the trace started.

Whether this process can trace at all (scapy installed, a raw socket allowed) is decided
once, when the checks are opened; if not, one log line says why and how to fix it, and the
ping checks run unwrapped.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import logging
import random
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import SimpleNamespace

from linkwatch.collector.path.check import PathWatchSettings
from linkwatch.collector.path.fields import path_fields
from linkwatch.collector.path.traceroute import (
    SCAPY_HINT,
    TraceUnavailableError,
    ip_literal,
    load_scapy,
    open_trace_socket,
    traceroute,
)
from linkwatch.collector.ping.check import PingCheck
from linkwatch.collector.ping.hold import EchoHold
from linkwatch.collector.sample import Collect, ProbeContext, Sample

log = logging.getLogger("linkwatch.path")

# Of the cycle's time limit, the share a cycle may spend waiting for its trace; the rest is
# kept for the scheduler so the ping sample is never lost to the cycle's timeout.
_CYCLE_SHARE = 0.9


def unavailable_reason() -> str | None:
    """Why this process cannot trace, with the fix; None when it can. Cheap: scapy is
    located, not imported."""
    try:
        if importlib.util.find_spec("scapy") is None:
            return SCAPY_HINT
    except (ImportError, ValueError):
        return SCAPY_HINT
    try:
        open_trace_socket().close()
    except TraceUnavailableError as e:
        return str(e)
    except OSError as e:
        return f"path probing cannot open a raw ICMP socket: {e}"
    return None


def ping_state(fields: Mapping[str, object], lossy_pct: float) -> str:
    """"up", "lossy" or "down", from a ping sample's fields."""
    if not fields.get("up"):
        return "down"
    loss = fields.get("loss_pct")
    if isinstance(loss, int | float) and loss >= lossy_pct:
        return "lossy"
    return "up"


@dataclass
class Tracer:
    """What the watched checks share: the settings, the limit on concurrent traces, and
    scapy once loaded. `broken` is set (and logged once) if scapy fails to import."""

    settings: PathWatchSettings
    gate: asyncio.Semaphore
    ctx: ProbeContext
    rng: random.Random = field(default_factory=random.Random)
    broken: str | None = None
    hold: EchoHold = field(default_factory=EchoHold)
    _scapy: SimpleNamespace | None = None
    _failed: set[str] = field(default_factory=set)

    async def sample(self, target: str, address: str, trigger: str) -> Sample | None:
        """Trace toward `address` and return the `path` sample, or None if it cannot.

        While it traces toward a target that went down or lossy, that target's echoes are
        held (collector/ping/hold.py): they would use up the broken router's answers."""
        async with self.gate:
            if self.broken is not None:
                return None
            time_ns = self.ctx.time_ns()  # taken after the wait, when probes leave
            quiet = self.hold.holding(address) if trigger != "up" else contextlib.nullcontext()
            try:
                with quiet:
                    if self._scapy is None and ip_literal(address) == socket.AF_INET:
                        self._scapy = await asyncio.to_thread(load_scapy)
                    trace = await traceroute(
                        address, self.settings.trace, ident=self.rng.getrandbits(16),
                        scapy=self._scapy, others=lambda: self.hold.last_echo(address))
            except TraceUnavailableError as e:
                self.broken = str(e)
                log.warning("path probing is off: %s", e)
                return None
            except OSError as e:  # e.g. no IPv6 on this host: once per address family
                family = "IPv6" if ip_literal(address) == socket.AF_INET6 else "IPv4"
                if family not in self._failed:
                    self._failed.add(family)
                    log.warning("path probing of %s targets fails: %s", family, e)
                return None
        return Sample(
            measurement="path",
            tags={"target": target, "address": address},
            fields=path_fields(trace, trigger=trigger),
            time_ns=time_ns,
        )


class PathWatch:
    """One ping check's collector, with a trace started whenever its state changes."""

    def __init__(self, collect: Collect, *, name: str, limit_s: float, tracer: Tracer) -> None:
        self._collect = collect
        self._name = name
        self._limit_s = limit_s
        self._tracer = tracer
        self._state: str | None = None
        self._running: set[asyncio.Task[Sample | None]] = set()

    async def collect(self) -> list[Sample]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + _CYCLE_SHARE * self._limit_s
        samples = list(await self._collect())
        started = [task for s in samples if (task := self._watch(s)) is not None]
        if started:
            await asyncio.wait(started, timeout=max(0.0, deadline - loop.time()))
        return samples + self._harvest()

    def _watch(self, sample: Sample) -> asyncio.Task[Sample | None] | None:
        if sample.measurement != "ping":
            return None
        state = ping_state(sample.fields, self._tracer.settings.lossy_pct)
        previous, self._state = self._state, state
        if state == previous or (previous is None and state == "up"):
            return None
        if not sample.fields.get("sent"):
            return None  # the name did not resolve: there is no address to trace toward
        address = sample.tags.get("address", "")
        if ip_literal(address) is None:
            return None
        task = asyncio.create_task(self._tracer.sample(self._name, address, state),
                                   name=f"path {self._name}")
        self._running.add(task)
        return task

    def _harvest(self) -> list[Sample]:
        """The samples of the traces that have ended (this cycle's, or earlier ones')."""
        samples: list[Sample] = []
        for task in [t for t in self._running if t.done()]:
            self._running.discard(task)
            if task.cancelled():
                continue
            error = task.exception()
            if error is not None:  # a bug: logged, and the ping sample still goes out
                log.error("path probe toward ping %s failed", self._name, exc_info=error)
            elif (sample := task.result()) is not None:
                samples.append(sample)
        return samples

    def cancel(self) -> None:
        for task in list(self._running):
            task.cancel()


def watch_paths(collects: dict[str, Collect], checks: Sequence[PingCheck],
                ctx: ProbeContext, *, settings: PathWatchSettings | None = None,
                hold: EchoHold | None = None) -> dict[str, Collect]:
    """The ping checks' `collects` with path probing added to those that ask for it;
    `hold` is the one their echoes consult.

    The traces still running are cancelled when `ctx.exit_stack` closes.
    """
    wanted = [c for c in checks if c.path_probe]
    if not wanted:
        return collects
    reason = unavailable_reason()
    if reason is not None:
        log.info("path probing is off: %s (set `path_probe: false` on the ping checks to "
                 "silence this)", reason)
        return collects
    settings = settings or PathWatchSettings()
    tracer = Tracer(settings, asyncio.Semaphore(settings.max_concurrent), ctx,
                    hold=hold or EchoHold())
    wrapped = dict(collects)
    for check in wanted:
        limit = float(check.timeout or check.interval)
        watch = PathWatch(collects[check.name], name=check.name, limit_s=limit, tracer=tracer)
        ctx.exit_stack.callback(watch.cancel)
        wrapped[check.name] = watch.collect
    return wrapped

