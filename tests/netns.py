"""Network namespaces a test creates for itself: every packet of the test stays inside
them, and they are deleted when the test ends, failed or not."""

from __future__ import annotations

import ctypes
import functools
import os
import shutil
import subprocess
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from tests.servers.process import unavailable

T = TypeVar("T")


def run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    """`cmd` with its output captured as text; the caller judges the return code."""
    return subprocess.run(cmd, capture_output=True, text=True, check=False, **kwargs)


def require_ip(*, root: bool = True) -> None:
    """Skip unless iproute2's `ip` is here (and, with `root`, we may create namespaces)."""
    if root and os.geteuid() != 0:
        unavailable("creating network namespaces needs root")
    if shutil.which("ip") is None:
        unavailable("iproute2's `ip` is not installed")


def ip(netns: str, *args: str) -> None:
    """`ip -n NETNS ARGS…`, which must succeed."""
    done = run(["ip", "-n", netns, *args])
    assert done.returncode == 0, f"ip -n {netns} {' '.join(args)}: {done.stderr}"


@contextmanager
def namespace(name: str) -> Iterator[str]:
    """A new namespace `name` with its loopback up, deleted on exit. Skips the test if
    this kernel or container does not allow creating one."""
    created = run(["ip", "netns", "add", name])
    if created.returncode != 0:
        unavailable(f"cannot create a network namespace: {created.stderr.strip()}")
    try:
        ip(name, "link", "set", "lo", "up")
        yield name
    finally:
        run(["ip", "netns", "del", name])


def inside(netns: str, call: Callable[[], T], *, timeout: float = 120) -> T:
    """`call()` run inside the namespace `netns`: sockets it opens live there.

    A namespace is a property of a thread (setns(2) moves only the calling one), so `call`
    runs in a thread of its own that joins `netns` first; the test's threads stay outside.
    """
    outcome: dict[str, object] = {}

    def run_there() -> None:
        try:
            with open(f"/run/netns/{netns}", "rb") as handle:
                if _libc().setns(handle.fileno(), _CLONE_NEWNET) != 0:
                    errno = ctypes.get_errno()
                    raise OSError(errno, f"setns into {netns}: {os.strerror(errno)}")
            outcome["value"] = call()
        except BaseException as e:  # handed to the caller's thread
            outcome["error"] = e

    worker = threading.Thread(target=run_there, name=f"netns-{netns}", daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        raise TimeoutError(f"no answer inside network namespace {netns} within {timeout:g}s")
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["value"]  # type: ignore[return-value]


_CLONE_NEWNET = 0x40000000


@functools.cache
def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)
