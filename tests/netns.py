"""Network namespaces a test creates for itself: every packet of the test stays inside
them, and they are deleted when the test ends, failed or not."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager

import pytest


def run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    """`cmd` with its output captured as text; the caller judges the return code."""
    return subprocess.run(cmd, capture_output=True, text=True, check=False, **kwargs)


def require_ip(*, root: bool = True) -> None:
    """Skip unless iproute2's `ip` is here (and, with `root`, we may create namespaces)."""
    if root and os.geteuid() != 0:
        pytest.skip("creating network namespaces needs root")
    if shutil.which("ip") is None:
        pytest.skip("iproute2's `ip` is not installed")


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
        pytest.skip(f"cannot create a network namespace: {created.stderr.strip()}")
    try:
        ip(name, "link", "set", "lo", "up")
        yield name
    finally:
        run(["ip", "netns", "del", name])
