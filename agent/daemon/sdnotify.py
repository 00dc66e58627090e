"""The sd_notify protocol: tell systemd the agent is ready, reloading, stopping, alive.

A message is one datagram of `KEY=value` lines sent to the AF_UNIX socket named in
$NOTIFY_SOCKET (sd_notify(3)); a name starting with '@' is in the abstract namespace.
Outside systemd the variable is unset and every call is a no-op, so the agent runs the
same from a terminal.

    notifier = Notifier.from_environment()
    notifier.ready("polling 12 checks")
    interval = watchdog_interval()
    if interval is not None:
        tasks.create_task(watchdog_loop(notifier, interval, stop))
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass

from linkwatch.agent.daemon.logs import StateLog

log = logging.getLogger("linkwatch.sdnotify")


@dataclass
class Notifier:
    """A datagram socket to systemd's notify socket; `address` None means not under systemd."""

    address: str | None = None
    _sock: socket.socket | None = None

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Notifier:
        environ = os.environ if environ is None else environ
        name = environ.get("NOTIFY_SOCKET", "")
        if not name:
            return cls()
        if name.startswith("@"):
            address = "\0" + name[1:]  # Linux abstract namespace
        elif name.startswith("/"):
            address = name
        else:
            # systemd 254+ may hand out vsock:CID:PORT addresses (for VMs); the agent
            # runs on the host, where the notify socket is always a path.
            raise ValueError(
                f"NOTIFY_SOCKET={name!r} is neither a socket path nor @abstract name; "
                "run the agent with the unit in systemd/linkwatch-agent.service"
            )
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        # Never block the event loop on a full receive queue: the message is dropped and
        # the caller hears of it as an OSError.
        sock.setblocking(False)
        return cls(address=address, _sock=sock)

    @property
    def enabled(self) -> bool:
        return self._sock is not None

    def notify(self, message: str) -> bool:
        """Send one message; False when not under systemd. Raises OSError if sending fails."""
        if self._sock is None or self.address is None:
            return False
        self._sock.sendto(message.encode(), self.address)
        return True

    def ready(self, status: str | None = None) -> bool:
        """Start-up (or a reload) is complete: systemd marks the unit active."""
        return self.notify("READY=1" + (f"\nSTATUS={_one_line(status)}" if status else ""))

    def status(self, text: str) -> bool:
        """Free text shown by `systemctl status linkwatch-agent`."""
        return self.notify(f"STATUS={_one_line(text)}")

    def watchdog(self) -> bool:
        return self.notify("WATCHDOG=1")

    def stopping(self) -> bool:
        return self.notify("STOPPING=1")

    def reloading(self) -> bool:
        # MONOTONIC_USEC is what Type=notify-reload (systemd 253+) requires with RELOADING=1;
        # older systemd and Type=notify ignore it, so one message serves both.
        usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        return self.notify(f"RELOADING=1\nMONOTONIC_USEC={usec}")

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def _one_line(text: str) -> str:
    # A newline would end the STATUS value and start a new (bogus) assignment.
    return text.replace("\n", " ")


def watchdog_interval(
    environ: Mapping[str, str] | None = None, pid: int | None = None
) -> float | None:
    """Seconds between WATCHDOG=1 pings: half of $WATCHDOG_USEC, or None without a watchdog.

    $WATCHDOG_PID names the process the watchdog is meant for; a child that inherited the
    environment (or a process started by hand from a unit's shell) must not ping.
    """
    environ = os.environ if environ is None else environ
    pid = os.getpid() if pid is None else pid
    usec = environ.get("WATCHDOG_USEC", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    for_pid = environ.get("WATCHDOG_PID", "")
    if for_pid and (not for_pid.isdigit() or int(for_pid) != pid):
        return None
    return int(usec) / 2 / 1e6


async def watchdog_loop(notifier: Notifier, interval: float, stop: asyncio.Event) -> None:
    """Ping the watchdog every `interval` seconds until `stop` is set.

    It runs as a task on the agent's event loop, not in a thread: if the loop is stuck
    (a blocking call, a busy probe), the pings stop and systemd restarts the agent.
    """
    failures = StateLog(log)
    while not stop.is_set():
        try:
            notifier.watchdog()
        except OSError as e:
            failures.down(
                "systemd watchdog ping",
                f"{e} (systemd restarts the agent if no ping arrives within WatchdogSec)",
            )
        else:
            failures.up("systemd watchdog ping")
        with contextlib.suppress(TimeoutError):  # the interval passed: ping again
            await asyncio.wait_for(stop.wait(), timeout=interval)
