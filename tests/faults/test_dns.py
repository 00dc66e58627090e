"""A DNS server that never answers: the real agent in a network namespace of its own, whose
resolv.conf (`ip netns exec` mounts /etc/netns/NAME/resolv.conf over /etc/resolv.conf)
names a server that takes every query and answers none (a UDP socket on port 53 that the
test holds open). glibc then waits 5 s per try.

What a user would notice: a ping check of a name, polled every 2 s, still gets a sample each
cycle (up=0, with the reason in the log), and SIGTERM stops the agent within the 5 s its
documentation promises, lookups still hanging or not.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from linkwatch.agent.spool import SchemaError, Spool
from tests.netns import namespace, require_ip

pytestmark = [pytest.mark.faults, pytest.mark.netns]

DEAD_SERVER = "127.0.0.53"
SILENT_SERVER = ("import socket, sys, time\n"
                 "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
                 f"s.bind(('{DEAD_SERVER}', 53))\n"
                 "print('ready', flush=True)\n"
                 "while True: s.recv(4096)\n")


@pytest.fixture
def dead_dns():
    require_ip()
    name = f"lwdns-{uuid.uuid4().hex[:6]}"
    etc = Path("/etc/netns") / name
    with namespace(name):
        server = subprocess.Popen(["ip", "netns", "exec", name, sys.executable, "-c",
                                   SILENT_SERVER], stdout=subprocess.PIPE, text=True)
        etc.mkdir(parents=True)
        try:
            assert server.stdout.readline().strip() == "ready"
            (etc / "resolv.conf").write_text(f"nameserver {DEAD_SERVER}\n")
            yield name
        finally:
            server.kill()
            server.wait()
            shutil.rmtree(etc, ignore_errors=True)


def _pings(spool: Path) -> list:
    try:
        opened = Spool.open(spool, max_size=2**24, history_s=86400, outputs=None,
                            read_only=True)
    except (FileNotFoundError, SchemaError):
        return []
    try:
        return list(opened.history("ping", 0, time.time_ns() + 10**12))
    finally:
        opened.close()


def test_a_dead_dns_server_gives_down_samples_and_sigterm_still_stops_within_5_s(
        dead_dns, tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text(
        "agent: {name: dns-test, site: lab, spool: {path: spool.db}}\n"
        "checks:\n"
        "  ping:\n"
        "    - {name: island-router, address: router.ngoc-vung.example, interval: 2s,"
        " count: 1}\n")
    agent = subprocess.Popen(
        ["ip", "netns", "exec", dead_dns, sys.executable, "-m", "linkwatch", "agent", "run",
         "-c", str(config)],
        cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONDONTWRITEBYTECODE": "1"})
    try:
        deadline = time.monotonic() + 60
        while len(_pings(tmp_path / "spool.db")) < 3 and time.monotonic() < deadline:
            assert agent.poll() is None, agent.communicate()[1]
            time.sleep(0.2)
        samples = _pings(tmp_path / "spool.db")
        assert len(samples) >= 3, "a cycle with a hanging lookup gave no sample"
        assert all(s.fields == {"sent": 0, "received": 0, "up": 0} for s in samples)
    finally:
        agent.send_signal(signal.SIGTERM)
        try:
            log = agent.communicate(timeout=5)[1]      # the documented promise
        except subprocess.TimeoutExpired:
            agent.kill()
            agent.communicate()
            raise AssertionError("the agent did not stop within 5 s of SIGTERM") from None
    assert agent.returncode == 0, log
    assert "cannot resolve 'router.ngoc-vung.example'" in log
    assert "no answer from the name resolver" in log
