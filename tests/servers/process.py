"""A server the tests run as a child process: its binary found (or the test skipped, or
failed under CI), started with its output in a log file, waited on until a readiness
condition holds, and stopped with SIGTERM, then SIGKILL if it lingers.

Plain code, so the bench scripts start the same servers the same way.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn, TypeVar

import pytest

S = TypeVar("S")


class ServerError(RuntimeError):
    """The server did not start; the message ends with the tail of its log."""


class ServerMissing(FileNotFoundError):
    """A server's program is not installed; the message names the package to install."""


# The start of a skip reason that CI accepts: the condition lies outside the machines the
# suite runs on (tests/conftest.py turns every other skip under CI into a failure).
OUTSIDE = "outside these machines: "


def under_ci() -> bool:
    """True on the CI runner (it sets CI=true), where every server must be installed."""
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def unavailable(message: str) -> NoReturn:
    """Skip the test, or under CI fail it: a broken CI install must not pass as skipped."""
    if under_ci():
        pytest.fail(f"{message}; CI=true, so the CI image must install it", pytrace=False)
    pytest.skip(message)


def find(program: str, install: str) -> str:
    """The path of `program`; raises ServerMissing saying to `install` (e.g. "the Debian
    package influxdb") when it is not on PATH."""
    path = shutil.which(program)
    if path is None:
        raise ServerMissing(f"{program} not found (install {install})")
    return path


def require(program: str, install: str) -> str:
    """Like `find`, but a missing program skips the test (fails it under CI)."""
    try:
        return find(program, install)
    except ServerMissing as e:
        unavailable(str(e))


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_udp_port(host: str = "127.0.0.1") -> int:
    """A UDP port on `host` that nothing is bound to right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def start_logged(cmd: Sequence[str], log_path: Path, *,
          env: Mapping[str, str] | None = None) -> subprocess.Popen:
    """Runs `cmd` with stdout and stderr appended to `log_path` (appended, so a restart
    keeps what the previous run said)."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        return subprocess.Popen(list(cmd), stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL,
                                env=dict(env) if env is not None else None)


def wait_until(ready: Callable[[], bool], process: subprocess.Popen, what: str,
               log_path: Path, timeout: float, every: float = 0.05) -> None:
    """Polls `ready()` until it holds. If the server exits first, or `timeout` seconds
    pass (then it is stopped), raises ServerError naming `what`, with the log's tail."""
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise ServerError(f"{what}: exited with {process.returncode}; {tail(log_path)}")
        if ready():
            return
        if time.monotonic() > deadline:
            stop_process(process)
            raise ServerError(f"{what}: not ready after {timeout:g}s; {tail(log_path)}")
        time.sleep(every)


def http_ok(url: str) -> Callable[[], bool]:
    """A readiness condition: GET `url` answers 200 or 204."""
    def ready() -> bool:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                return response.status in (200, 204)
        except (urllib.error.URLError, OSError):
            return False

    return ready


def stop_process(process: subprocess.Popen, timeout: float = 20) -> None:
    """SIGTERM, then SIGKILL if the server has not exited after `timeout` seconds."""
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def tail(path: Path, lines: int = 20) -> str:
    """The last lines of a server's log, on one line, for an error message."""
    try:
        return "log: " + " | ".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "no log"


@contextmanager
def running(start: Callable[[], S], stop: Callable[[S], object]) -> Iterator[S]:
    """A server for a fixture: `start()` it (a missing program skips the test, or fails it
    under CI), hand it out, and `stop(server)` it afterwards whatever the test did."""
    try:
        server = start()
    except ServerMissing as e:
        unavailable(str(e))
    try:
        yield server
    finally:
        stop(server)
