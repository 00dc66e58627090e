"""Path probing end to end: the real agent, in a chain of network namespaces this test builds.

    agent 10.77.1.2 ── 10.77.1.1 r1 10.77.2.1 ── 10.77.2.2 r2 10.77.3.1 ── 10.77.3.2 target
          fd77:1::2    fd77:1::1    fd77:2::1    fd77:2::2    fd77:3::1    fd77:3::2

The agent runs `linkwatch agent run` inside the agent namespace with a 2 s ping check toward
the target. The test cuts one link, waits for the `path` point the agent writes to its
spool when the target goes down, and reads from it which router was the last to answer;
`linkwatch trace` run beside the agent must say the same. The routers limit their ICMP
errors as Linux does by default (about one a second toward a host), and the agent's echoes
toward the target use that allowance up too: both traces must still name r2.
Every packet stays inside these namespaces; they are deleted even when a test fails.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.netns import ip, namespace, require_ip
from tests.netns import run as _run
from tests.servers.process import unavailable

pytestmark = pytest.mark.netns

REPO = Path(__file__).resolve().parents[2]

R1_NEAR, R2_NEAR, TARGET = "10.77.1.1", "10.77.2.2", "10.77.3.2"
R1_NEAR6, R2_NEAR6, TARGET6 = "fd77:1::1", "fd77:2::2", "fd77:3::2"
SILENT = "10.77.1.9"  # on the agent's link, assigned to no one


@dataclass(frozen=True)
class Chain:
    agent: str
    r1: str
    r2: str
    target: str

    def ip(self, netns: str, *args: str) -> None:
        ip(netns, *args)

    def cut(self, netns: str, link: str) -> None:
        self.ip(netns, "link", "set", link, "down")

    def mend(self, netns: str, link: str) -> None:
        """The link up again, and the routes the kernel dropped with it back."""
        self.ip(netns, "link", "set", link, "up")
        _routes(self)


def _build(chain: Chain) -> None:
    """The links, addresses and routes between the chain's (already created) namespaces."""
    for netns in (chain.agent, chain.r1, chain.r2, chain.target):
        # a cut (link down) must not take the IPv6 addresses with it, as it would by default
        for scope in ("all", "default"):
            done = _run(["ip", "netns", "exec", netns, "sysctl", "-qw",
                         f"net.ipv6.conf.{scope}.keep_addr_on_down=1"])
            assert done.returncode == 0, done.stderr
    # (namespace, link, address, peer namespace, peer link, peer address)
    links = (
        (chain.agent, "a0", "1.2", chain.r1, "a1", "1.1"),
        (chain.r1, "b0", "2.1", chain.r2, "b1", "2.2"),
        (chain.r2, "c0", "3.1", chain.target, "c1", "3.2"),
    )
    for near, link, address, far, peer, peer_address in links:
        chain.ip(near, "link", "add", link, "type", "veth", "peer", "name", peer, "netns", far)
        for netns, dev, host in ((near, link, address), (far, peer, peer_address)):
            net, end = host.split(".")
            chain.ip(netns, "addr", "add", f"10.77.{host}/24", "dev", dev)
            chain.ip(netns, "-6", "addr", "add", f"fd77:{net}::{end}/64", "dev", dev, "nodad")
        chain.ip(near, "link", "set", link, "up")
        chain.ip(far, "link", "set", peer, "up")
    _routes(chain)
    for router in (chain.r1, chain.r2):
        for setting in ("net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1"):
            done = _run(["ip", "netns", "exec", router, "sysctl", "-qw", setting])
            assert done.returncode == 0, done.stderr
    # unprivileged ICMP sockets, in the agent namespace only (the test without CAP_NET_RAW)
    done = _run(["ip", "netns", "exec", chain.agent, "sysctl", "-qw",
                 "net.ipv4.ping_group_range=0 2147483647"])
    assert done.returncode == 0, done.stderr


def _routes(chain: Chain) -> None:
    """The static routes of the chain (a link set down takes its routes with it)."""
    for netns, family, prefix, via in (
            (chain.agent, "-4", "default", R1_NEAR), (chain.r1, "-4", "10.77.3.0/24", R2_NEAR),
            (chain.r2, "-4", "10.77.1.0/24", "10.77.2.1"),
            (chain.target, "-4", "default", "10.77.3.1"),
            (chain.agent, "-6", "default", R1_NEAR6), (chain.r1, "-6", "fd77:3::/64", R2_NEAR6),
            (chain.r2, "-6", "fd77:1::/64", "fd77:2::1"),
            (chain.target, "-6", "default", "fd77:3::1")):
        # a link just set up gets its own prefix route back a moment later: wait for it
        deadline = time.monotonic() + 10
        while (done := _run(["ip", "-n", netns, family, "route", "replace", prefix, "via",
                             via])).returncode != 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert done.returncode == 0, f"route {prefix} via {via} in {netns}: {done.stderr}"


@pytest.fixture
def chain() -> Iterator[Chain]:
    """A chain of its own for each test: routers remember what they were asked (their ICMP
    rate limits), and one test's cuts must not silence another's router."""
    require_ip()
    tag = uuid.uuid4().hex[:6]
    built = Chain(f"lwpa-{tag}", f"lwpr1-{tag}", f"lwpr2-{tag}", f"lwpt-{tag}")
    with contextlib.ExitStack() as namespaces:
        for name in (built.agent, built.r1, built.r2, built.target):
            namespaces.enter_context(namespace(name))
        _build(built)
        yield built


def _config(workdir: Path, pings: dict[str, str]) -> Path:
    # One echo every 2 s: routers answer at most about one ICMP error per second to a host
    # (Linux's icmp_ratelimit), and the echoes toward a target behind a cut use those
    # answers up too.
    checks = "\n".join(
        f"    - {{name: {name}, address: '{address}', interval: 2s, count: 1}}"
        for name, address in pings.items()
    )
    path = workdir / "config.yaml"
    path.write_text(
        "agent:\n"
        "  name: path-test\n"
        "  site: lab\n"
        f"  spool: {{path: {workdir / 'spool.db'}, max_size: 16MiB, history: 1d}}\n"
        "outputs: []\n"
        "sites:\n"
        "  - {name: lab}\n"
        "checks:\n"
        "  ping:\n"
        f"{checks}\n"
    )
    return path


def _env() -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONDONTWRITEBYTECODE": "1",
    }


def _agent(netns: str, config: Path, *extra: str, user: tuple[str, ...] = ()) -> list[str]:
    return ["ip", "netns", "exec", netns, *user, sys.executable, "-m", "linkwatch",
            "agent", "run", "-c", str(config), *extra]


def _cli(*args: str) -> list[dict]:
    done = subprocess.run([sys.executable, "-m", "linkwatch", *args], env=_env(),
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _samples(spool_path: Path, measurement: str) -> list:
    """What the agent has committed so far (nothing while it is still creating its spool)."""
    from linkwatch.agent.spool import SchemaError, Spool

    try:
        spool = Spool.open(spool_path, max_size=16 * 2**20, history_s=86400, outputs=None,
                           read_only=True)
    except (FileNotFoundError, SchemaError):
        return []
    try:
        return list(spool.history(measurement, 0, time.time_ns() + 10**12))
    finally:
        spool.close()


def _wait_for(what: str, found: Callable[[], object], process: subprocess.Popen,
              timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = found()
        if result:
            return result
        if process.poll() is not None:
            break
        time.sleep(0.2)
    process.terminate()
    log = process.communicate(timeout=10)[1]
    pytest.fail(f"no {what} within {timeout:g}s; agent log:\n{log}")


def _trace(chain: Chain, target: str) -> dict:
    """`linkwatch trace TARGET --format json` in the agent's namespace."""
    done = _run(["ip", "netns", "exec", chain.agent, sys.executable, "-m", "linkwatch",
                 "trace", target, "--format", "json"], env=_env(), cwd="/", timeout=120)
    assert done.returncode in (0, 3), done.stderr
    return json.loads(done.stdout)


@contextlib.contextmanager
def _running_agent(chain: Chain, config: Path) -> Iterator[subprocess.Popen]:
    agent = subprocess.Popen(_agent(chain.agent, config), env=_env(), cwd="/",
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        yield agent
    finally:
        agent.send_signal(signal.SIGTERM)
        try:
            log = agent.communicate(timeout=15)[1]
        except subprocess.TimeoutExpired:
            agent.kill()
            log = agent.communicate()[1]
    assert agent.returncode == 0, log
    assert "Traceback" not in log, log


def _new_path(spool: Path, seen: int, trigger: str) -> Callable[[], object]:
    def found():
        paths = _samples(spool, "path")[seen:]
        return next((p for p in paths if p.fields.get("trigger") == trigger), None)
    return found


def test_the_path_point_names_the_last_router_before_the_cut(chain, tmp_path):
    config = _config(tmp_path, {"far": TARGET})
    spool = tmp_path / "spool.db"
    with _running_agent(chain, config) as agent:
        _wait_for("ping answered", lambda: any(s.fields["up"] == 1 for s in
                                               _samples(spool, "ping")), agent)

        chain.cut(chain.r2, "c0")  # r2 ↔ target
        seen = len(_samples(spool, "path"))
        down = _wait_for("path point after cutting r2 ↔ target",
                         _new_path(spool, seen, "down"), agent)
        assert down.tags["target"] == "far" and down.tags["address"] == TARGET
        assert down.tags["agent"] == "path-test" and down.tags["site"] == "lab"
        assert down.fields["reached"] == 0
        assert (down.fields["last_hop"], down.fields["last_hop_address"]) == (2, R2_NEAR)
        assert down.fields["hops"].startswith(f"1 {R1_NEAR} ")
        assert f"; 2 {R2_NEAR} " in down.fields["hops"]
        # What the IT staff see, from this agent's own history.
        said = f"breaks after hop 2 ({R2_NEAR})"
        status = _cli("status", "--local", "-c", str(config), "--format", "json")
        assert [r["path"] for r in status if r["target"] == "far"] == [said], status
        outages = _cli("outages", "--local", "-c", str(config), "--since", "1h",
                       "--min-cycles", "1", "--format", "json")
        assert [o["path"] for o in outages if o["target"] == "far"] == [said], outages

        chain.mend(chain.r2, "c0")
        seen = len(_samples(spool, "path"))
        up = _wait_for("path point after the target came back",
                       _new_path(spool, seen, "up"), agent)
        assert up.fields["reached"] == 1
        assert (up.fields["last_hop"], up.fields["last_hop_address"]) == (3, TARGET)
        assert up.fields["hop_count"] == 3

        chain.cut(chain.r1, "b0")  # r1 ↔ r2
        seen = len(_samples(spool, "path"))
        down = _wait_for("path point after cutting r1 ↔ r2",
                         _new_path(spool, seen, "down"), agent)
        assert down.fields["reached"] == 0
        assert (down.fields["last_hop"], down.fields["last_hop_address"]) == (1, R1_NEAR)
        chain.mend(chain.r1, "b0")


def test_the_agent_and_a_trace_beside_it_both_name_r2_behind_the_cut(chain, tmp_path):
    config = _config(tmp_path, {"far": TARGET})
    spool = tmp_path / "spool.db"
    with _running_agent(chain, config) as agent:
        _wait_for("ping answered", lambda: any(s.fields["up"] == 1 for s in
                                               _samples(spool, "ping")), agent)
        chain.cut(chain.r2, "c0")  # r2 ↔ target, while the agent pings the target
        try:
            traced = _trace(chain, TARGET)          # beside the agent's own trace
            down = _wait_for("path point after cutting r2 ↔ target",
                             _new_path(spool, 0, "down"), agent)
        finally:
            chain.mend(chain.r2, "c0")
    assert traced["reached"] is False
    assert traced["summary"].startswith(f"breaks after hop 2 ({R2_NEAR})"), traced
    assert (down.fields["last_hop"], down.fields["last_hop_address"]) == (2, R2_NEAR), \
        down.fields


def test_an_ipv6_path_names_the_router_before_the_cut(chain, tmp_path):
    assert _trace(chain, TARGET6)["summary"] == "reached in 3 hops"
    config = _config(tmp_path, {"far6": TARGET6})
    spool = tmp_path / "spool.db"
    with _running_agent(chain, config) as agent:
        _wait_for("ping answered", lambda: any(s.fields["up"] == 1 for s in
                                               _samples(spool, "ping")), agent)
        chain.cut(chain.r2, "c0")
        try:
            traced = _trace(chain, TARGET6)
            down = _wait_for("path point after cutting r2 ↔ target",
                             _new_path(spool, 0, "down"), agent)
        finally:
            chain.mend(chain.r2, "c0")
    assert traced["summary"].startswith(f"breaks after hop 2 ({R2_NEAR6})"), traced
    assert down.tags["address"] == TARGET6
    assert (down.fields["last_hop"], down.fields["last_hop_address"]) == (2, R2_NEAR6)


def test_a_missing_route_is_named_as_such(chain):
    chain.ip(chain.agent, "route", "del", "default")
    try:
        traced = _trace(chain, TARGET)
    finally:
        _routes(chain)
    assert traced["no_route"] is True
    assert traced["summary"].startswith("no route to the target from this host")


@pytest.fixture(scope="module")
def without_net_raw() -> tuple[str, ...]:
    """A prefix that runs a command as root but without CAP_NET_RAW (no raw sockets)."""
    if shutil.which("setpriv") is None:
        unavailable("util-linux's setpriv is not installed")
    return ("setpriv", "--inh-caps=-net_raw", "--bounding-set=-net_raw")


def test_without_cap_net_raw_the_agent_pings_and_says_once_why_paths_are_off(
        chain, tmp_path, without_net_raw):
    config = _config(tmp_path, {"far": TARGET, "silent": SILENT, "near": R1_NEAR})
    # the ping checks fall back to unprivileged ICMP sockets (allowed in this namespace)
    done = _run(_agent(chain.agent, config, "--once", user=without_net_raw), env=_env(),
                cwd="/", timeout=60)
    assert done.returncode == 0, done.stderr
    reasons = [line for line in done.stderr.splitlines() if "path probing is off" in line]
    assert len(reasons) == 1, done.stderr
    assert "CAP_NET_RAW" in reasons[0] and "docs/path.md#privileges" in reasons[0]
    pings = {s.tags["target"]: s.fields for s in _samples(tmp_path / "spool.db", "ping")}
    assert pings["near"]["up"] == 1 and pings["silent"]["up"] == 0
    assert _samples(tmp_path / "spool.db", "path") == []
