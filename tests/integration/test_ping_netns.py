"""The ping probe inside network namespaces this test creates: silent targets, no privileges.

The probe runs in a subprocess started with `ip netns exec`, so every echo stays inside
the namespace: its own loopback, and a veth pair whose both ends live in it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.checkout import checkout_site
from tests.netns import ip, namespace, require_ip
from tests.netns import run as _run
from tests.servers.process import unavailable

pytestmark = pytest.mark.netns

REPO = Path(__file__).resolve().parents[2]
NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
LINK_ADDRESS = "10.200.0.1/24"
SILENT = "10.200.0.2"  # on the namespace's link, assigned to no one: ARP goes unanswered
UNROUTABLE = "10.201.0.1"  # the namespace has no route there: the kernel refuses to send

# Opens the probes for the checks given as JSON, runs one cycle, prints the samples as JSON.
RUNNER = """
import asyncio, contextlib, json, sys
from linkwatch.collector.ping.check import PingCheck
from linkwatch.collector.ping.probe import open_probes
from linkwatch.collector.ping.sockets import PingPermissionError
from linkwatch.collector.sample import ProbeContext
from linkwatch.collector.units import Seconds

class NoState:
    def get_state(self, key): return None
    def put_state(self, key, value): pass

async def main():
    checks = [PingCheck(name=c["name"], address=c["address"], interval=Seconds(c["interval"]),
                        count=c["count"], privileged=c.get("privileged"),
                        path_probe=c.get("path_probe", True))
              for c in json.loads(sys.argv[1])]
    async with contextlib.AsyncExitStack() as stack:
        probes = await open_probes(checks, ProbeContext(store=NoState(), exit_stack=stack))
        batches = await asyncio.gather(*(probes[c.name]() for c in checks))
    return [{"tags": dict(s.tags), "fields": dict(s.fields)} for b in batches for s in b]

try:
    print(json.dumps(asyncio.run(main())))
except PingPermissionError as exc:
    print(exc, file=sys.stderr)
    sys.exit(2)
"""


@pytest.fixture(scope="module")
def netns() -> Iterator[str]:
    require_ip()
    with namespace(f"lwping-{uuid.uuid4().hex[:8]}") as name:
        for args in (
            ["link", "add", "lwp0", "type", "veth", "peer", "name", "lwp1"],
            ["addr", "add", LINK_ADDRESS, "dev", "lwp0"],
            ["link", "set", "lwp0", "up"],
            ["link", "set", "lwp1", "up"],
        ):
            ip(name, *args)
        # per namespace: lets any group open unprivileged ICMP sockets here only
        sysctl = _run(
            ["ip", "netns", "exec", name, "sysctl", "-w", "net.ipv4.ping_group_range=0 2147483647"]
        )
        assert sysctl.returncode == 0, sysctl.stderr
        yield name


@pytest.fixture(scope="module")
def nobody_python() -> Iterator[str]:
    """An interpreter the unprivileged user may run (a root-only home may hide ours), with
    the checkout importable as `linkwatch` (the ping probe needs nothing beyond the
    standard library)."""
    if shutil.which("setpriv") is None:
        unavailable("util-linux's setpriv is not installed")
    with checkout_site() as site:
        env = {**_env(), "PYTHONPATH": str(site)}
        for python in dict.fromkeys([sys.executable, "/usr/bin/python3"]):
            probe = _run([*NOBODY, python, "-c", "import linkwatch.collector.ping.probe"],
                         env=env, cwd="/")
            if probe.returncode == 0:
                _ENV_OF[python] = env
                yield python
                return
        unavailable("no Python interpreter that user 65534 can run with this repository")


_ENV_OF: dict[str, dict[str, str]] = {}


def _env() -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONDONTWRITEBYTECODE": "1",
    }


def _probe(
    netns: str, checks: list[dict], *, user: list[str] = (), python: str = sys.executable
) -> subprocess.CompletedProcess:
    return _run(
        ["ip", "netns", "exec", netns, *user, python, "-c", RUNNER, json.dumps(checks)],
        env=_ENV_OF.get(python, _env()) if user else _env(),
        cwd="/",
        timeout=60,
    )


def _samples(result: subprocess.CompletedProcess) -> dict[str, dict]:
    assert result.returncode == 0, result.stderr
    return {s["tags"]["target"]: s for s in json.loads(result.stdout)}


def _check(name: str, address: str, **extra) -> dict:
    # no path probing: these tests are about the echoes alone
    return {"name": name, "address": address, "interval": 1, "count": 3, "path_probe": False,
            **extra}


@pytest.mark.parametrize("as_nobody", [False, True], ids=["raw-socket", "datagram-socket"])
def test_targets_that_never_answer_are_down_with_full_loss(netns, as_nobody, request):
    # root could use datagram sockets here too (the namespace's sysctl allows group 0),
    # so the root variant asks for raw sockets explicitly
    kwargs: dict = {}
    privileged = not as_nobody
    if as_nobody:
        kwargs = {"user": NOBODY, "python": request.getfixturevalue("nobody_python")}
    checks = [
        _check(name, address, privileged=privileged)
        for name, address in (("silent", SILENT), ("unroutable", UNROUTABLE), ("lo", "127.0.0.1"))
    ]
    samples = _samples(_probe(netns, checks, **kwargs))
    for name, address in (("silent", SILENT), ("unroutable", UNROUTABLE)):
        assert samples[name]["tags"] == {"target": name, "address": address}
        assert samples[name]["fields"] == {"sent": 3, "received": 0, "up": 0, "loss_pct": 100.0}
    # the same process, same cycle, still hears the namespace's own loopback
    assert samples["lo"]["fields"]["up"] == 1


def test_an_unprivileged_user_pings_over_datagram_sockets(netns, nobody_python):
    checks = [
        _check("lo4", "127.0.0.1", privileged=False),
        _check("lo6", "::1", privileged=False),
        _check("auto", "127.0.0.1"),
    ]
    samples = _samples(_probe(netns, checks, user=NOBODY, python=nobody_python))
    for name, address in (("lo4", "127.0.0.1"), ("lo6", "::1"), ("auto", "127.0.0.1")):
        fields = samples[name]["fields"]
        assert samples[name]["tags"]["address"] == address
        assert (fields["up"], fields["received"], fields["loss_pct"]) == (1, 3, 0.0), name
        assert 0 < fields["rtt_min_ms"] <= fields["rtt_avg_ms"] <= fields["rtt_max_ms"] < 267


def test_an_unprivileged_user_asking_for_raw_sockets_is_told_the_fix(netns, nobody_python):
    result = _probe(
        netns, [_check("lo", "127.0.0.1", privileged=True)], user=NOBODY, python=nobody_python
    )
    assert result.returncode == 2, result.stderr
    assert "a raw ICMP socket (privileged: true)" in result.stderr
    assert "CAP_NET_RAW" in result.stderr and "docs/operations.md#ping" in result.stderr


def test_privileged_false_where_the_sysctl_forbids_it_names_the_sysctl():
    # a namespace whose ping_group_range admits no group (Debian 12's default), whatever
    # this machine's own setting is; the kernel checks the range even for root
    require_ip()
    with namespace(f"lwpg-{uuid.uuid4().hex[:8]}") as name:
        forbid = _run(["ip", "netns", "exec", name, "sysctl", "-qw",
                       "net.ipv4.ping_group_range=1 0"])
        assert forbid.returncode == 0, forbid.stderr
        checks = [{"name": "lo", "address": "127.0.0.1", "interval": 1, "count": 1,
                   "privileged": False}]
        done = _run(["ip", "netns", "exec", name, sys.executable, "-c", RUNNER,
                     json.dumps(checks)], cwd=REPO)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "privileged: false" in done.stderr and "ping_group_range" in done.stderr
