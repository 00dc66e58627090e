"""The delivery loop against an in-memory queue and scripted server answers.

The real spool and real servers are in tests/integration/test_outputs.py; here each answer a
server can give is played in turn, to check what the shipper does with it.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import pytest

from linkwatch.agent.config.schema import InfluxOutput
from linkwatch.agent.outputs import Pacing, Status, WriteResult, ship

FAST = Pacing(backoff_base=0.001, backoff_cap=0.01, fatal_retry=0.01, idle_poll=0.01,
              stop_grace=0.05)
OUTPUT = InfluxOutput(type="influxdb", url="http://127.0.0.1:9", name="central", batch_size=4)


@dataclass
class _Batch:
    ids: tuple[int, ...]
    lines: tuple[bytes, ...]


@dataclass
class _OutputStats:
    output: str
    queued: int


@dataclass
class _Stats:
    outputs: tuple[_OutputStats, ...]


@dataclass
class MemoryQueue:
    """The spool's sending side, in memory."""

    lines: dict[int, bytes] = field(default_factory=dict)
    acked: list[int] = field(default_factory=list)
    dead: dict[int, str] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, count: int) -> MemoryQueue:
        return cls({i: b"ping,target=t%d up=1i %d" % (i, i) for i in range(1, count + 1)})

    def next_batch(self, output: str, limit: int, *, after_id: int = 0) -> _Batch | None:
        ids = sorted(i for i in self.lines if i > after_id)[:limit]
        if not ids:
            return None
        return _Batch(tuple(ids), tuple(self.lines[i] for i in ids))

    def ack(self, output: str, ids: Sequence[int]) -> None:
        for i in ids:
            del self.lines[i]
            self.acked.append(i)

    def dead_letter(self, output: str, ids: Sequence[int], message: str) -> None:
        for i in ids:
            del self.lines[i]
            self.dead[i] = message

    def record_send_error(self, output: str, message: str) -> None:
        self.errors.append(message)

    def stats(self) -> _Stats:
        return _Stats((_OutputStats(OUTPUT.queue_name, len(self.lines)),))


class ScriptedWriter:
    """Answers each write with the next scripted result, then with `then(body)`."""

    def __init__(
        self, script: Sequence[WriteResult] = (),
        then: Callable[[bytes], WriteResult] = lambda body: WriteResult(Status.OK, 204),
    ) -> None:
        self.script = list(script)
        self.then = then
        self.bodies: list[bytes] = []
        self.closed = False

    def write(self, body: bytes) -> WriteResult:
        self.bodies.append(body)
        return self.script.pop(0) if self.script else self.then(body)

    def close(self) -> None:
        self.closed = True


async def _ship_until(queue: MemoryQueue, writer, done: Callable[[], bool]):
    stop = asyncio.Event()
    task = asyncio.create_task(ship(queue, OUTPUT, stop=stop, writer=writer, pacing=FAST))
    while not done() and not task.done():
        await asyncio.sleep(0.001)
    stop.set()
    return await task


def test_delivers_everything_oldest_first_and_acks_it():
    queue = MemoryQueue.of(10)
    writer = ScriptedWriter()
    state = asyncio.run(_ship_until(queue, writer, lambda: not queue.lines))
    assert queue.acked == list(range(1, 11))
    assert state.sent == 10
    first = b"\n".join(b"ping,target=t%d up=1i %d" % (i, i) for i in (1, 2, 3, 4))
    assert writer.bodies[0] == first
    assert writer.closed


@pytest.mark.parametrize("failure", [
    WriteResult(Status.RETRY, 500, message="internal error"),
    WriteResult(Status.RETRY, 503, retry_after=0.0, message="maintenance"),
    WriteResult(Status.RETRY, 429, message="too many requests"),
    WriteResult(Status.RETRY, None, message="ConnectionResetError: reset by peer"),
    WriteResult(Status.RETRY, None, message="no answer in time"),
])
def test_a_server_that_fails_for_a_while_gets_every_point_once_it_recovers(failure, caplog):
    queue = MemoryQueue.of(6)
    writer = ScriptedWriter([failure] * 5)
    with caplog.at_level(logging.INFO, "linkwatch.outputs"):
        state = asyncio.run(_ship_until(queue, writer, lambda: not queue.lines))
    assert queue.acked == [1, 2, 3, 4, 5, 6]
    assert state.send_errors == 5 and len(queue.errors) == 5
    # logged when the outage starts and when it ends, not once per retry
    messages = [r.getMessage() for r in caplog.records]
    assert sum("unreachable" in m for m in messages) == 1
    back = [m for m in messages if "back after" in m]
    assert len(back) == 1 and "replaying 6 points" in back[0]


def test_rejected_lines_are_isolated_and_kept_as_dead_letters_with_the_servers_message():
    queue = MemoryQueue.of(8)
    bad = {b"ping,target=t3 up=1i 3", b"ping,target=t8 up=1i 8"}

    def influx_1x(body: bytes) -> WriteResult:
        if bad & set(body.split(b"\n")):
            return WriteResult(Status.REJECTED, 400, message="field type conflict dropped=1")
        return WriteResult(Status.OK, 204)

    asyncio.run(_ship_until(queue, ScriptedWriter(then=influx_1x), lambda: not queue.lines))
    assert queue.dead == {3: "HTTP 400: field type conflict dropped=1",
                          8: "HTTP 400: field type conflict dropped=1"}
    assert sorted(queue.acked) == [1, 2, 4, 5, 6, 7]


def test_a_too_large_batch_is_split_until_it_fits():
    queue = MemoryQueue.of(8)

    def small_bodies_only(body: bytes) -> WriteResult:
        if body.count(b"\n") >= 1:
            return WriteResult(Status.REJECTED, 413, message="Request Entity Too Large")
        return WriteResult(Status.OK, 204)

    asyncio.run(_ship_until(queue, ScriptedWriter(then=small_bodies_only),
                            lambda: not queue.lines))
    assert sorted(queue.acked) == list(range(1, 9))
    assert queue.dead == {}


def test_a_missing_database_keeps_the_queue_and_says_what_to_do(caplog):
    queue = MemoryQueue.of(3)
    missing = WriteResult(Status.FATAL, 404, message='database not found: "linkwatch"')
    writer = ScriptedWriter([missing] * 4)
    with caplog.at_level(logging.INFO, "linkwatch.outputs"):
        asyncio.run(_ship_until(queue, writer, lambda: len(writer.bodies) >= 3))
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert "database not found" in errors[0].getMessage()
    assert "CREATE DATABASE" in errors[0].getMessage()
    assert queue.errors[0] == 'HTTP 404: database not found: "linkwatch"'
    assert sorted(queue.lines) == [1, 2, 3]  # nothing dropped, nothing dead-lettered
    assert queue.dead == {}


def test_stop_abandons_a_hung_request_and_leaves_its_batch_queued():
    queue = MemoryQueue.of(3)
    released = threading.Event()
    started = threading.Event()

    class HungWriter(ScriptedWriter):
        def write(self, body: bytes) -> WriteResult:
            started.set()
            released.wait(30)
            return WriteResult(Status.RETRY, message="closed")

        def close(self) -> None:
            released.set()

    async def scenario():
        stop = asyncio.Event()
        task = asyncio.create_task(ship(queue, OUTPUT, stop=stop, writer=HungWriter(),
                                        pacing=FAST))
        while not started.is_set():
            await asyncio.sleep(0.001)
        stop.set()
        return await task

    state = asyncio.run(scenario())
    assert released.is_set()  # the writer was closed, which frees its thread
    assert sorted(queue.lines) == [1, 2, 3]
    assert state.sent == 0


def test_new_points_are_sent_when_the_caller_wakes_the_shipper():
    queue = MemoryQueue()
    writer = ScriptedWriter()
    slow_poll = Pacing(backoff_base=0.001, idle_poll=3600, stop_grace=0.05)

    async def scenario():
        stop, wake = asyncio.Event(), asyncio.Event()
        task = asyncio.create_task(ship(queue, OUTPUT, stop=stop, wake=wake, writer=writer,
                                        pacing=slow_poll))
        await asyncio.sleep(0.01)
        queue.lines[1] = b"host cpu_pct=1.5 1"
        wake.set()
        async with asyncio.timeout(30):  # the next poll is an hour away
            while queue.lines:
                await asyncio.sleep(0.001)
        stop.set()
        await task

    asyncio.run(scenario())
    assert queue.acked == [1]
