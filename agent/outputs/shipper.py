"""The delivery loop of one output: spool → server, removing points only after a 2xx.

One request is in flight per output. The HTTP call runs in a thread, so the event loop (and
with it every probe) never waits on the network. What a failed write means:

- retry (5xx, 429, timeouts, refused or reset connections): wait with backoff and jitter,
  honouring Retry-After, and send the same points again. The queue keeps growing meanwhile.
- fatal (401, 403, 404): an admin must act (credentials, `CREATE DATABASE`). Logged once
  with what to do, recorded for `linkwatch status`, then retried slowly: spooling goes on.
  A 404 (no such database or bucket) is first answered by creating it, where the output's
  `create_database` allows and its credentials suffice (agent/outputs/create.py), once per
  outage; the write is then sent again at once.
- rejected (400, 413, 422): something in the batch. InfluxDB 1.x stores the good points of a
  partial write and refuses the rest; other servers refuse the whole batch. So the batch is
  split in halves and resent until each refused line stands alone; such a line goes to the
  dead letters with the server's message, everything else is acknowledged. Resending good
  lines is harmless: a series keeps one value per timestamp.

An outage is logged twice, when it starts and when it ends, never once per retry.

Replay after an outage (or at start with a backlog) goes oldest first, but fresh points are
not left to wait behind days of backlog: when the replay starts, the newest queued id is the
boundary, and about once a second (`Pacing.fresh_every`) one batch is taken from the points
after it (the fresh lane, also oldest first) before going on with the backlog. Both lanes
are in id order, so InfluxDB sees each series' backlog in time order and live data within a
second or two. When the backlog is through, the end of the replay is logged with its rate.

While a request is in flight (in its thread), the loop records the previous batch's ack and
reads the next backlog batch, so the spool's fsync and query overlap the network and a
replay runs close to the rate the server accepts. An ack so deferred is written before any
wait, before the next read that could return its points again, and when the shipper stops;
a crash in between only means those points are sent once more.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from linkwatch.agent.config.schema import Output, VictoriaOutput
from linkwatch.agent.outputs.backoff import Backoff
from linkwatch.agent.outputs.create import Creation, create_store, manual_step, uses_v2
from linkwatch.agent.outputs.result import Status, Writer, WriteResult
from linkwatch.agent.outputs.version import open_writer
from linkwatch.agent.text import log_duration
from linkwatch.collector.blocking import in_daemon_thread

log = logging.getLogger("linkwatch.outputs")



class Batch(Protocol):
    @property
    def ids(self) -> tuple[int, ...]: ...

    @property
    def lines(self) -> tuple[bytes, ...]: ...


class Queue(Protocol):
    """What the shipper uses of the spool."""

    def next_batch(self, output: str, limit: int, *, after_id: int = 0) -> Batch | None: ...

    def ack(self, output: str, ids: Sequence[int]) -> None: ...

    def dead_letter(self, output: str, ids: Sequence[int], message: str) -> None: ...

    def record_send_error(self, output: str, message: str) -> None: ...

    # Optional: `newest_id(output) -> int | None`, the newest queued id. A queue without it
    # is sent strictly oldest first (no fresh lane).

    def stats(self) -> Any: ...  # .outputs: per output, .output (name) and .queued


@dataclass(frozen=True)
class Pacing:
    """The shipper's timings, in seconds."""

    backoff_base: float = 1.0     # first retry within 0–1 s, then 0–2 s, 0–4 s …
    backoff_cap: float = 300.0    # never wait longer than this between tries
    fatal_retry: float = 60.0     # a server that refuses (401/403/404) is asked this often
    idle_poll: float = 1.0        # look for new points this often when the queue is empty
    stop_grace: float = 2.0       # on stop, how long an in-flight request may still finish
    fresh_every: float = 1.0      # during a replay, a batch of fresh points this often


@dataclass
class ShipperState:
    """What one shipper has done so far, for status and health points."""

    sent: int = 0                       # points acknowledged by the server
    dead_lettered: int = 0              # points the server refused, kept aside
    send_errors: int = 0                # failed requests
    last_error: str | None = None
    last_send_ok: float | None = None   # wall-clock time of the last 2xx
    outage_since: float | None = None   # monotonic; set while the output is unreachable


# What to do about an answer that needs an admin, by HTTP status.
_FIX = {
    401: "check username/password or token of this output in the config",
    403: "give this output's user or token write access to the database/bucket",
}


async def ship(
    spool: Queue,
    output: Output,
    *,
    stop: asyncio.Event,
    wake: asyncio.Event | None = None,
    writer: Writer | None = None,
    pacing: Pacing = Pacing(),
    state: ShipperState | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> ShipperState:
    """Delivers the output's queue until `stop` is set; returns what it did.

    `wake` is set by whoever appends to the spool, so new points go out without waiting for
    the next poll. An unacknowledged batch simply stays queued when `stop` comes. The
    writer (by default the one the output's `version` calls for) is closed on return.
    """
    if writer is None:
        writer = open_writer(output)
    shipper = _Shipper(
        spool, output, writer, stop, wake, pacing, state or ShipperState(), clock
    )
    try:
        await shipper.run()
    finally:
        writer.close()
    return shipper.state


_STOPPED = WriteResult(Status.RETRY, message="stopping")


class _Shipper:
    def __init__(
        self, spool: Queue, output: Output, writer: Writer, stop: asyncio.Event,
        wake: asyncio.Event | None, pacing: Pacing, state: ShipperState,
        clock: Callable[[], float],
    ) -> None:
        self.spool = spool
        self.output = output
        self.name = output.queue_name
        self.writer = writer
        self.stop = stop
        self.wake = wake
        self.pacing = pacing
        self.state = state
        self.clock = clock
        self.backoff = Backoff(pacing.backoff_base, pacing.backoff_cap)
        self._failing: Status | None = None
        self._fresh_after: int | None = None    # set during a replay: the fresh lane's start
        self._fresh_due = 0.0
        self._replay: tuple[float, int] | None = None  # replay start (clock) and sent then
        self._to_ack: Sequence[int] | None = None      # delivered, ack not yet written
        self._ahead: Batch | None = None               # the backlog batch after the last one
        self._creation: Creation | None = None         # asked this outage: what came of it

    async def run(self) -> None:
        self._begin_replay(self._queued())
        try:
            while not self.stop.is_set():
                if self.wake is not None:
                    self.wake.clear()
                batch = self._next_batch()
                if batch is None:
                    self._flush_ack()
                    await self._wait(self.pacing.idle_poll, self.wake)
                    continue
                failure = await self._deliver(batch)
                if failure is _STOPPED:
                    return
                if failure is not None:
                    self._flush_ack()
                    floor = self.pacing.fatal_retry if failure.status is Status.FATAL else 0.0
                    await self._wait(self.backoff.next_wait(failure.retry_after, floor=floor))
        finally:
            self._flush_ack()

    def _flush_ack(self) -> None:
        ids, self._to_ack = self._to_ack, None
        if ids:
            self.spool.ack(self.name, ids)

    def _queued(self) -> int:
        return next(
            (o.queued for o in self.spool.stats().outputs if o.output == self.name), 0
        )

    def _begin_replay(self, queued: int) -> None:
        """A backlog larger than one batch: open the fresh lane after its newest point."""
        newest_id = getattr(self.spool, "newest_id", None)
        if queued <= self.output.batch_size or newest_id is None:
            return
        self._fresh_after = newest_id(self.name)
        self._fresh_due = self.clock() + self.pacing.fresh_every
        if self._replay is None:
            self._replay = (self.clock(), self.state.sent)

    def _next_batch(self) -> Batch | None:
        limit = self.output.batch_size
        ahead, self._ahead = self._ahead, None
        if self._fresh_after is not None and self.clock() >= self._fresh_due:
            self._fresh_due = self.clock() + self.pacing.fresh_every
            self._flush_ack()
            fresh = self.spool.next_batch(self.name, limit, after_id=self._fresh_after)
            if fresh is not None:
                return fresh
        batch: Batch | None
        if ahead is not None:
            batch = ahead
        else:
            self._flush_ack()
            batch = self.spool.next_batch(self.name, limit)
        if self._fresh_after is not None and (batch is None or batch.ids[0] > self._fresh_after):
            self._end_replay()
        return batch

    def _end_replay(self) -> None:
        self._fresh_after = None
        if self._replay is None:
            return
        started, sent_before = self._replay
        self._replay = None
        took = max(self.clock() - started, 1e-3)
        sent = self.state.sent - sent_before
        log.info("output %s: backlog replayed, %d points in %s (%d points/s)",
                 self.name, sent, log_duration(took), sent / took)

    def _read_ahead(self, batch: Batch) -> None:
        """While `batch` is in flight: write the previous ack, read the batch after it."""
        self._flush_ack()
        fresh = self._fresh_after is not None and batch.ids[0] > self._fresh_after
        if not fresh:
            self._ahead = self.spool.next_batch(self.name, self.output.batch_size,
                                                after_id=batch.ids[-1])

    async def _deliver(self, batch: Batch) -> WriteResult | None:
        """Sends a batch, splitting it on rejection; the failure that stopped it, if any."""
        pending = [(batch.ids, batch.lines)]
        whole = True
        while pending:
            if self.stop.is_set():  # mid-split: the rest stays queued for next time
                self._ahead = None
                return _STOPPED
            ids, lines = pending.pop()
            in_flight = (lambda: self._read_ahead(batch)) if whole else self._flush_ack
            result = await self._send(lines, in_flight)
            if result is _STOPPED or result.status is not Status.OK:
                self._ahead = None
            if result is _STOPPED:
                return result
            if result.status is Status.OK:
                if whole and self.state.outage_since is None:
                    self._to_ack = ids
                else:
                    self._flush_ack()
                    self.spool.ack(self.name, ids)
                self._reachable(len(ids))
                self.state.sent += len(ids)
                self.state.last_send_ok = time.time()
            elif result.status is Status.REJECTED:
                self._reachable(0)
                if len(ids) == 1:
                    # The spool logs it and keeps it for `linkwatch spool status`.
                    self.spool.dead_letter(self.name, ids, _describe(result))
                    self.state.dead_lettered += 1
                else:
                    whole = False
                    half = len(ids) // 2
                    # pop() takes the older half first, keeping the time order
                    pending.append((ids[half:], lines[half:]))
                    pending.append((ids[:half], lines[:half]))
            elif await self._created_after(result):
                pending.append((ids, lines))
            else:
                self._unreachable(result)
                return result
        return None

    async def _created_after(self, result: WriteResult) -> bool:
        """On a 404, create the database or bucket (once per outage) where allowed."""
        if (result.status is not Status.FATAL or result.http_status != 404
                or isinstance(self.output, VictoriaOutput)   # it has no databases to create
                or not self.output.create_database or self._creation is not None):
            return False
        version = getattr(self.writer, "version", None)
        self._creation = await in_daemon_thread(create_store, self.output, version)
        if self._creation.created:
            log.info("output %s: %s on %s (it answered 404 %s)", self.name,
                     self._creation.message, self.output.url, result.message)
        return self._creation.created

    async def _send(self, lines: Sequence[bytes],
                    in_flight: Callable[[], None] | None = None) -> WriteResult:
        """One request; `_STOPPED` if stop came and the request did not finish in grace.

        `in_flight` runs on the loop while the request is on its way.
        """
        request = in_daemon_thread(self.writer.write, b"\n".join(lines), name="linkwatch-output")
        if in_flight is not None:
            in_flight()
        stopping = asyncio.ensure_future(self.stop.wait())
        try:
            either: set[asyncio.Future[Any]] = {request, stopping}
            await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
        if not request.done():
            try:
                await asyncio.wait_for(asyncio.shield(request), self.pacing.stop_grace)
            except TimeoutError:
                # Abandon it: closing the writer wakes the thread, the batch stays queued.
                self.writer.close()
                return _STOPPED
        return request.result()

    def _unreachable(self, result: WriteResult) -> None:
        message = _describe(result)
        self.state.send_errors += 1
        self.state.last_error = message
        self.spool.record_send_error(self.name, message)
        # Logged when the outage starts, and again only if it turns from "unreachable" to
        # "refuses" (or back): what the admin must do changed.
        if self._failing is result.status:
            return
        self._failing = result.status
        if self.state.outage_since is None:
            self.state.outage_since = self.clock()
        if result.status is Status.FATAL:
            fix = _fix(self.output, result.http_status)
            if result.http_status == 404 and not isinstance(self.output, VictoriaOutput):
                fix = self._missing_store_fix()
            log.error(
                "output %s refuses writes: %s; %s. Spooling meanwhile, asking again every %gs",
                self.name, message, fix, self.pacing.fatal_retry,
            )
        else:
            log.warning("output %s unreachable: %s; spooling", self.name, message)

    def _missing_store_fix(self) -> str:
        assert not isinstance(self.output, VictoriaOutput)
        if self._creation is not None and not self._creation.created:
            return f"linkwatch could not create it ({self._creation.message})"
        step = manual_step(self.output, v2=uses_v2(self.output,
                                                   getattr(self.writer, "version", None)))
        if not self.output.create_database:
            return f"{step}, or allow linkwatch to (`create_database: true`)"
        return f"{step}, or fix `database:`/`bucket:` of this output in the config"

    def _reachable(self, delivered: int) -> None:
        self.backoff.reset()
        self._creation = None
        if self.state.outage_since is None:
            return
        lasted = self.clock() - self.state.outage_since
        self.state.outage_since = None
        self._failing = None
        queued = self._queued()
        log.warning(
            "output %s back after %s; replaying %d points", self.name, log_duration(lasted),
            queued + delivered,
        )
        self._begin_replay(queued)

    async def _wait(self, seconds: float, wake: asyncio.Event | None = None) -> None:
        """Sleeps, ending early on stop (or on wake, when given)."""
        waiters = [asyncio.ensure_future(self.stop.wait())]
        if wake is not None:
            waiters.append(asyncio.ensure_future(wake.wait()))
        try:
            await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()


def _fix(output: Output, http_status: int | None) -> str:
    """What the admin should do about a refusal."""
    if isinstance(output, VictoriaOutput) and http_status in (400, 404):
        return ("check `url:` (or `insert_url:` and `tenant:`) and the credentials of this "
                "output: victoria-metrics, or vmauth in front of it, refused the path or the "
                "credentials")
    return _FIX.get(http_status or 0, "check this output in the config")


def _describe(result: WriteResult) -> str:
    if result.http_status is None:
        return result.message
    return f"HTTP {result.http_status}: {result.message}"
