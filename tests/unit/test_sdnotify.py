"""sd_notify messages arrive on a real datagram socket, as systemd would read them."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from linkwatch.agent.daemon.sdnotify import Notifier, watchdog_interval, watchdog_loop


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    """systemd's side: a bound datagram socket and the $NOTIFY_SOCKET value naming it."""
    path = str(tmp_path / "notify")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(path)
        sock.settimeout(5)  # a safety net against a hang, not a timed assertion
        yield sock, path


def _received(sock: socket.socket) -> str:
    return sock.recv(4096).decode()


def test_ready_with_status_reaches_a_path_socket(notify_socket) -> None:
    sock, path = notify_socket
    notifier = Notifier.from_environment({"NOTIFY_SOCKET": path})

    assert notifier.ready("polling 3 checks") is True
    assert _received(sock) == "READY=1\nSTATUS=polling 3 checks"
    notifier.close()


def test_abstract_socket_name_starting_with_at() -> None:
    name = f"linkwatch-test-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(5)
        notifier = Notifier.from_environment({"NOTIFY_SOCKET": "@" + name})

        notifier.ready()
        assert _received(sock) == "READY=1"
        notifier.close()


@pytest.mark.parametrize(
    ("send", "expected"),
    [
        (lambda n: n.watchdog(), "WATCHDOG=1"),
        (lambda n: n.stopping(), "STOPPING=1"),
        (lambda n: n.status("sending 120 points"), "STATUS=sending 120 points"),
        (lambda n: n.status("two\nlines"), "STATUS=two lines"),
        (lambda n: n.notify("EXTEND_TIMEOUT_USEC=5000000"), "EXTEND_TIMEOUT_USEC=5000000"),
    ],
)
def test_each_message_is_sent_as_systemd_expects(notify_socket, send, expected) -> None:
    sock, path = notify_socket
    notifier = Notifier.from_environment({"NOTIFY_SOCKET": path})

    send(notifier)
    assert _received(sock) == expected
    notifier.close()


def test_reloading_carries_the_monotonic_time(notify_socket) -> None:
    sock, path = notify_socket
    notifier = Notifier.from_environment({"NOTIFY_SOCKET": path})

    before = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    notifier.reloading()
    after = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000

    first, second = _received(sock).split("\n")
    assert first == "RELOADING=1"
    key, value = second.split("=")
    assert key == "MONOTONIC_USEC"
    assert before <= int(value) <= after
    notifier.close()


def test_outside_systemd_every_call_is_a_no_op() -> None:
    notifier = Notifier.from_environment({})

    assert notifier.enabled is False
    assert notifier.ready() is False
    assert notifier.watchdog() is False


def test_an_unsupported_socket_address_is_refused_with_a_hint() -> None:
    with pytest.raises(ValueError, match=r"NOTIFY_SOCKET='vsock:2:1234'.*systemd/linkwatch"):
        Notifier.from_environment({"NOTIFY_SOCKET": "vsock:2:1234"})


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"WATCHDOG_USEC": "60000000"}, 30.0),
        ({"WATCHDOG_USEC": "60000000", "WATCHDOG_PID": "4242"}, 30.0),
        ({"WATCHDOG_USEC": "60000000", "WATCHDOG_PID": "1"}, None),  # meant for another pid
        ({"WATCHDOG_USEC": "0"}, None),
        ({"WATCHDOG_USEC": "soon"}, None),
        ({}, None),
    ],
)
def test_watchdog_interval_is_half_the_timeout_for_this_process(environ, expected) -> None:
    assert watchdog_interval(environ, pid=4242) == expected


def test_watchdog_interval_defaults_to_this_process() -> None:
    environ = {"WATCHDOG_USEC": "2000000", "WATCHDOG_PID": str(os.getpid())}

    assert watchdog_interval(environ) == 1.0


async def _recv(sock: socket.socket) -> str:
    loop = asyncio.get_running_loop()
    return (await asyncio.wait_for(loop.sock_recv(sock, 4096), timeout=5)).decode()


def test_watchdog_loop_pings_until_stopped(notify_socket) -> None:
    sock, path = notify_socket
    sock.setblocking(False)
    notifier = Notifier.from_environment({"NOTIFY_SOCKET": path})

    async def run() -> list[str]:
        stop = asyncio.Event()
        task = asyncio.create_task(watchdog_loop(notifier, 0.01, stop))
        pings = [await _recv(sock) for _ in range(3)]
        stop.set()
        await asyncio.wait_for(task, timeout=5)
        return pings

    assert asyncio.run(run()) == ["WATCHDOG=1"] * 3
    notifier.close()


def test_a_stuck_event_loop_sends_no_pings(notify_socket) -> None:
    sock, path = notify_socket
    sock.setblocking(False)
    notifier = Notifier.from_environment({"NOTIFY_SOCKET": path})

    def drain() -> int:
        count = 0
        while True:
            try:
                sock.recv(4096)
            except BlockingIOError:
                return count
            count += 1

    async def run() -> int:
        stop = asyncio.Event()
        task = asyncio.create_task(watchdog_loop(notifier, 0.01, stop))
        await _recv(sock)
        drain()
        # A probe that blocks the loop for 20 ping intervals: the pings must stop, so
        # systemd sees a hung agent. (Pings sent from a thread would keep coming.)
        time.sleep(0.2)
        during = drain()
        stop.set()
        await asyncio.wait_for(task, timeout=5)
        return during

    assert asyncio.run(run()) == 0
    notifier.close()


class _CountingNotifier(Notifier):
    attempts = 0

    def watchdog(self) -> bool:
        self.attempts += 1
        return super().watchdog()


def test_failing_pings_are_logged_once_and_their_return_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = str(tmp_path / "notify")
    base = Notifier.from_environment({"NOTIFY_SOCKET": path})
    notifier = _CountingNotifier(address=base.address, _sock=base._sock)
    caplog.set_level(logging.INFO, logger="linkwatch.sdnotify")

    async def run() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(watchdog_loop(notifier, 0.01, stop))
        # No socket at the path yet: systemd is gone (or restarting).
        while notifier.attempts < 5:
            await asyncio.sleep(0.01)
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.bind(path)
            sock.setblocking(False)
            assert await _recv(sock) == "WATCHDOG=1"
            while not any("back" in r.getMessage() for r in caplog.records):
                await asyncio.sleep(0.01)
            stop.set()
            await asyncio.wait_for(task, timeout=5)

    asyncio.run(run())
    notifier.close()

    messages = [r.getMessage() for r in caplog.records if r.name == "linkwatch.sdnotify"]
    assert len(messages) == 2
    assert messages[0].startswith("systemd watchdog ping is down: ")
    assert "No such file or directory" in messages[0]
    assert messages[1].startswith("systemd watchdog ping is back after ")
