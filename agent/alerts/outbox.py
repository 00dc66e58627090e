"""Delivery from the outbox (the spool's `notification` table): one task per channel, so a
channel that is down never delays another.

For each channel, oldest first:
- at most `max_per_hour` messages in any hour; more wait in the outbox;
- what waited longer than `alerts.digest_after` (a long cut, a long wait for the rate
  limit) goes out as one digest per recipient, in place of the messages it sums up;
- a failed attempt is tried again after an exponential backoff with jitter, capped at
  `notify.retry_max` (a server's Retry-After wins); meanwhile the channel rests;
- a notification the channel cannot make a message of (a bug, data it refuses) is set
  aside as `rejected`, logged, and never blocks the ones after it;
- just before a send's point of no return the notification is marked `handed` (committed):
  after a crash, one handed to a channel people read is `unconfirmed` and never sent again,
  one handed to a machine (Alertmanager, webhook, command) is sent again with its dedupe key.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Iterable

from linkwatch.agent.alerts.channels import Undelivered, send
from linkwatch.agent.alerts.event import Event
from linkwatch.agent.alerts.messages import Outgoing, Words, outgoing
from linkwatch.agent.config.alerting import Channel
from linkwatch.agent.config.schema import Config
from linkwatch.agent.outputs.backoff import Backoff
from linkwatch.agent.spool import NewNotification, Notification, Spool
from linkwatch.collector.blocking import in_daemon_thread

log = logging.getLogger("linkwatch.alerts")

HOUR_NS = 3600 * 10**9
RATE_RECHECK_S = 60.0          # a channel at its rate limit looks again this often
BACKOFF_BASE_S = 2.0
MARK_TIMEOUT_S = 30.0


class Dispatcher:
    """Sends what the engine queued; `wake(channels)` after new notifications."""

    def __init__(self, config: Config, spool: Spool, *,
                 time_ns: Callable[[], int] = time.time_ns) -> None:
        self.config = config
        self.spool = spool
        self.time_ns = time_ns
        self.channels = {c.name: c for c in config.notify.channels}
        self._wakes = {name: asyncio.Event() for name in self.channels}
        self._resting: dict[str, str] = {}        # channel → why it rests (logged once)

    def wake(self, channels: Iterable[str]) -> None:
        for name in channels:
            if name in self._wakes:
                self._wakes[name].set()

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until `stop` is set."""
        await asyncio.gather(*(self._serve(c, stop) for c in self.channels.values()))

    async def _serve(self, channel: Channel, stop: asyncio.Event) -> None:
        backoff = Backoff(base=BACKOFF_BASE_S, cap=float(self.config.notify.retry_max))
        wake = self._wakes[channel.name]
        while not stop.is_set():
            wake.clear()
            try:
                rest, woken = await self.step(channel, backoff)
            except Exception:  # a bug in one channel must not stop the others
                log.exception("notification channel %s failed; trying again later",
                              channel.name)
                rest, woken = float(self.config.notify.retry_max), False
            if rest == 0:
                continue
            await _wait(stop, wake if woken else None, rest)

    async def step(self, channel: Channel, backoff: Backoff) -> tuple[float | None, bool]:
        """One move of `channel`'s outbox. Returns how long to rest (None: until woken, 0:
        at once) and whether a new notification may end the rest."""
        now = self.time_ns()
        waiting = self.spool.outbox_waiting(channel.name)
        if not waiting:
            return None, True
        due = [n for n in waiting if n.next_ns <= now]
        if not due:
            return (min(n.next_ns for n in waiting) - now) / 1e9, False
        if channel.max_per_hour is not None and self.spool.outbox_sent_since(
                channel.name, now - HOUR_NS) >= channel.max_per_hour:
            self._rest(channel, f"at its limit of {channel.max_per_hour} messages an hour; "
                       f"{len(waiting)} wait")
            return RATE_RECHECK_S, False
        if self._digest(channel, due, now):
            return 0, False
        row = due[0]
        try:
            message = self.message(channel, row, now)
            await self.deliver(channel, message, row)
        except Undelivered as e:
            wait = backoff.next_wait(e.retry_after)
            self.spool.outbox_failed([row.id], str(e), now + int(wait * 1e9))
            self._rest(channel, str(e))
            return wait, False
        except Exception as e:  # not the receiver: this one message; it must not block
            log.exception("notification %d cannot be sent over %s; it is set aside",
                          row.id, channel.name)
            self.spool.outbox_reject([row.id], f"{type(e).__name__}: {e}", now)
            return 0, False
        self.spool.outbox_sent([row.id], self.time_ns())
        backoff.reset()
        if self._resting.pop(channel.name, None) is not None:
            log.info("notification channel %s works again", channel.name)
        log.info("sent %s over %s%s: %s", row.kind, channel.name,
                 f" to {row.recipient}" if row.recipient else "", message.subject)
        return 0, False

    async def deliver(self, channel: Channel, message: Outgoing, row: Notification) -> None:
        """Send one notification in a thread, its `handed` mark committed on this loop
        before the point of no return. Raises Undelivered."""
        attempt = _Attempt(asyncio.get_running_loop(), self.spool, row.id, self.time_ns)
        try:
            await asyncio.wait_for(in_daemon_thread(send, channel, message, row.recipient, attempt),
                                   float(channel.timeout) + 5.0)
        except TimeoutError:
            attempt.abandoned = True
            raise Undelivered(f"{channel.kind} {channel.name}: no result within "
                              f"{float(channel.timeout) + 5.0:g}s") from None

    def message(self, channel: Channel, row: Notification, now: int) -> Outgoing:
        words = Words(channel.language or self.config.alerts.language, self.config.tz)
        data = json.loads(row.event)
        events = [Event.from_data(d) for d in (data if row.kind == "digest" else [data])]
        return outgoing(row.kind, events, words, dedupe_key=row.dedupe_key,
                        agent=self.config.agent.name, now_ns=now)

    def _digest(self, channel: Channel, due: list[Notification], now: int) -> bool:
        """Replace what waited longer than digest_after by one digest per recipient."""
        limit = int(float(self.config.alerts.digest_after) * 1e9)
        stale: dict[str, list[Notification]] = defaultdict(list)
        for n in due:
            if now - n.created_ns > limit and n.kind != "test":
                stale[n.recipient].append(n)
        made = False
        for recipient, rows in stale.items():
            if len(rows) < 2:
                continue
            events: list[dict] = []
            for n in rows:
                data = json.loads(n.event)
                events += data if n.kind == "digest" else [data]
            key = hashlib.sha256("|".join(n.dedupe_key for n in rows).encode()).hexdigest()
            self.spool.outbox_digest([n.id for n in rows], NewNotification(
                channel.name, recipient, key[:24], None, "digest", now,
                json.dumps(events, ensure_ascii=False)))
            log.info("%d notifications for %s waited more than %gs: they go as one digest",
                     len(rows), channel.name, float(self.config.alerts.digest_after))
            made = True
        return made

    def _rest(self, channel: Channel, why: str) -> None:
        if self._resting.get(channel.name) is None:
            log.warning("notification channel %s: %s; its messages wait in the outbox",
                        channel.name, why)
        self._resting[channel.name] = why


def recover(config: Config, spool: Spool) -> None:
    """Settle what the last stop left handed, once, before anything is sent."""
    people = [c.name for c in config.notify.channels if c.person]
    unconfirmed, again = spool.outbox_recover(people)
    if unconfirmed:
        log.warning("%d notifications were being sent when the agent stopped; they may "
                    "have gone out, so they are not sent again (unconfirmed in "
                    "`linkwatch spool status`)", unconfirmed)
    if again:
        log.info("%d notifications to machines are sent again after the stop (their "
                 "receivers take the dedupe key)", again)


class _Attempt:
    """The `handed` callback of one send: runs in the send's thread, commits the mark on
    the loop, and refuses once the loop has stopped waiting for the send."""

    def __init__(self, loop: asyncio.AbstractEventLoop, spool: Spool, row_id: int,
                 time_ns: Callable[[], int]) -> None:
        self.loop = loop
        self.spool = spool
        self.row_id = row_id
        self.time_ns = time_ns
        self.abandoned = False

    def __call__(self) -> None:
        if self.abandoned:
            raise Undelivered("the agent stopped waiting for this attempt")

        async def mark() -> None:
            self.spool.outbox_hand([self.row_id], self.time_ns())

        try:
            asyncio.run_coroutine_threadsafe(mark(), self.loop).result(MARK_TIMEOUT_S)
        except Exception as e:  # not marked: it must not go out
            raise Undelivered(f"the outbox could not mark the send: {e}") from e


async def _wait(stop: asyncio.Event, wake: asyncio.Event | None, seconds: float | None) -> None:
    waiters = [asyncio.ensure_future(stop.wait())]
    if wake is not None:
        waiters.append(asyncio.ensure_future(wake.wait()))
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await waiter
