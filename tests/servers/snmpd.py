"""A real net-snmp `snmpd` on a private loopback port, with a v2c community and v3 users.

`start_snmpd` is also used to run one inside a network namespace (pass `netns`), so the
end-to-end link tests and the bench share one way of configuring it.

Two session fixtures:
- `snmpd`: on this host's loopback. Fine for whether a device answers; never measure an
  interface's traffic through it: every process's loopback traffic is in `lo`'s counters.
- `snmpd_netns`: alone in a network namespace of its own, with a veth port to a peer
  namespace. Only what the test sends crosses that port, so its counters are exact; the
  test polls it from inside (`tests.netns.inside`).
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.servers.process import (
    free_udp_port,
    require,
    running,
    start_logged,
    stop_process,
    unavailable,
    wait_until,
)

PACKAGES = "the Debian packages snmpd snmp"
COMMUNITY = "lw-test"
ADMIN_COMMUNITY = "lw-admin"   # may write only net-snmp's cache settings
_NS_CACHE_TIMEOUT = ".1.3.6.1.4.1.8072.1.5.3.1.2"
_IF_TABLE = "1.3.6.1.2.1.2.2"
V3_USER = "lwuser"
V3_AUTH_KEY = "lw-auth-pass"   # SHA
V3_PRIV_KEY = "lw-priv-pass"   # AES-128

# Every SNMPv3 protocol linkwatch offers, as net-snmp's createUser names it. linkwatch's
# aes192/aes256 stretch a short key the Cisco way, net-snmp's AES-192-C/AES-256-C.
V3_AUTH = {"md5": "MD5", "sha": "SHA", "sha224": "SHA-224", "sha256": "SHA-256",
           "sha384": "SHA-384", "sha512": "SHA-512"}
V3_PRIV = {"des": "DES", "aes": "AES", "aes192": "AES-192-C", "aes256": "AES-256-C",
           "aes192-blumenthal": "AES-192", "aes256-blumenthal": "AES-256"}
V3_NOAUTH_USER = "lw-noauth"


def v3_user_name(auth: str, priv: str) -> str:
    """The snmpd user for linkwatch's `auth_protocol`/`priv_protocol` (priv may be none)."""
    return f"lw-{auth}-{priv}"


def _v3_matrix() -> list[str]:
    lines = [f"createUser {V3_NOAUTH_USER}", f"rouser {V3_NOAUTH_USER} noauth"]
    for auth, priv in itertools.product(V3_AUTH, ["none", *V3_PRIV]):
        user = v3_user_name(auth, priv)
        if priv == "none":
            lines += [f"createUser {user} {V3_AUTH[auth]} {V3_AUTH_KEY}", f"rouser {user} auth"]
        else:
            lines += [f"createUser {user} {V3_AUTH[auth]} {V3_AUTH_KEY} {V3_PRIV[priv]} "
                      f"{V3_PRIV_KEY}", f"rouser {user} priv"]
    return lines


@dataclass(frozen=True)
class Snmpd:
    host: str
    port: int
    community: str
    v3_user: str
    v3_auth_key: str
    v3_priv_key: str
    workdir: Path
    process: subprocess.Popen

    @property
    def log(self) -> str:
        path = self.workdir / "snmpd.log"
        return path.read_text(errors="replace") if path.exists() else ""


def client_env(workdir: Path) -> dict[str, str]:
    """Environment for snmpd and net-snmp clients: no MIB loading, private state dir."""
    return {**os.environ, "MIBS": "", "SNMP_PERSISTENT_DIR": str(workdir / "state"),
            "SNMPCONFPATH": str(workdir)}


def start_snmpd(workdir: Path, *, port: int | None = None, host: str = "127.0.0.1",
                extra_communities: Sequence[str] = (), netns: str | None = None,
                v6: bool = False, clients: str | None = None,
                ready_timeout: float = 15.0) -> Snmpd:
    """Start snmpd in the foreground (`-f`) and return once it answers a GET; with `v6`
    it also answers on [::1] at the same port.

    `clients` (an address or network, e.g. 198.51.100.0/24) may read it too; by default
    only `host` itself may. A missing snmpd or snmpget skips the calling test (fails it
    under CI)."""
    require("snmpd", PACKAGES)
    require("snmpget", PACKAGES)
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "state").mkdir(exist_ok=True)
    port = port or free_udp_port(host)
    conf = workdir / "snmpd.conf"
    lines = [
        f"agentaddress udp:{host}:{port}" + (f",udp6:[::1]:{port}" if v6 else ""),
        f"rocommunity {COMMUNITY} {host}",
        *([f"rocommunity6 {COMMUNITY} ::1"] if v6 else []),
        *([f"rocommunity {COMMUNITY} {clients}"] if clients else []),
        *(f"rocommunity {c} {host}" for c in extra_communities),
        f"rwcommunity {ADMIN_COMMUNITY} {host} .1.3.6.1.4.1.8072.1.5",
        f"createUser {V3_USER} SHA {V3_AUTH_KEY} AES {V3_PRIV_KEY}",
        f"rouser {V3_USER} priv",
        *_v3_matrix(),
        "sysLocation linkwatch test",
        "sysContact nobody",
        # The interface table only, fast: no disk/process scans.
        "[snmp] mibs :",
    ]
    conf.write_text("\n".join(lines) + "\n")
    log = workdir / "snmpd.log"
    cmd = ["snmpd", "-f", "-C", "-c", str(conf), "-Lf", str(log),
           "-p", str(workdir / "snmpd.pid")]
    if netns:
        cmd = ["ip", "netns", "exec", netns, *cmd]
    proc = start_logged(cmd, log, env=client_env(workdir))
    server = Snmpd(host, port, COMMUNITY, V3_USER, V3_AUTH_KEY, V3_PRIV_KEY, workdir, proc)
    probe = ["snmpget", "-v2c", "-c", COMMUNITY, "-t", "0.3", "-r", "0", "-On",
             f"udp:{host}:{port}", ".1.3.6.1.2.1.1.3.0"]
    if netns:
        probe = ["ip", "netns", "exec", netns, *probe]

    def answers() -> bool:
        return subprocess.run(probe, env=client_env(workdir), capture_output=True).returncode == 0

    wait_until(answers, proc, f"snmpd on udp:{host}:{port}", log, ready_timeout)
    _fresh_counters(server, netns)
    return server


def _fresh_counters(server: Snmpd, netns: str | None) -> None:
    """net-snmp caches the interface table for 3 s, so a counter read lags the sysUpTime
    read beside it; a 0 s cache makes rates over short test intervals exact."""
    cmd = ["snmpset", "-v2c", "-c", ADMIN_COMMUNITY, "-t", "2", "-r", "1",
           f"udp:{server.host}:{server.port}", f"{_NS_CACHE_TIMEOUT}.{_IF_TABLE}", "i", "0"]
    if netns:
        cmd = ["ip", "netns", "exec", netns, *cmd]
    subprocess.run(cmd, env=client_env(server.workdir), capture_output=True, check=True)


def stop_snmpd(server: Snmpd) -> None:
    stop_process(server.process, timeout=10)


@pytest.fixture(scope="session")
def snmpd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Snmpd]:
    """One snmpd for the session, serving this host's interfaces on a loopback port."""
    with running(lambda: start_snmpd(tmp_path_factory.mktemp("snmpd")), stop_snmpd) as server:
        yield server


@dataclass(frozen=True)
class SnmpdNetns:
    """snmpd alone in namespace `netns`, on its own 127.0.0.1 and [::1] at `server.port`.

    `port` (a veth, up, `address`) leads to `peer_port` (`peer_address`) in `peer_netns`;
    `down_port` is a second veth left down. Neither port has an IPv6 address and each side
    knows the other's MAC, so no neighbour discovery or ARP ever crosses them: their
    counters hold exactly what the test sends.
    """

    server: Snmpd
    netns: str
    peer_netns: str
    port: str = "port1"
    peer_port: str = "peer1"
    down_port: str = "port2"
    address: str = "10.78.0.1"
    peer_address: str = "10.78.0.2"

    def tx_bytes(self) -> int:
        """The kernel's own count of bytes sent out of `port` (what ifHCOutOctets reads)."""
        return _link_stats(self.netns, self.port)["tx"]["bytes"]

    def uptime_s(self) -> float:
        """The device's own clock, sysUpTime, in seconds (read with net-snmp's snmpget)."""
        done = subprocess.run(
            ["ip", "netns", "exec", self.netns, "snmpget", "-v2c", "-c", self.server.community,
             "-Ov", "-Ot", "-t", "1", "-r", "2", f"udp:127.0.0.1:{self.server.port}",
             ".1.3.6.1.2.1.1.3.0"],
            env=client_env(self.server.workdir), capture_output=True, text=True, check=True)
        return int(done.stdout.strip()) / 100

    def wait_clock_past(self, seconds: float) -> None:
        """Return once the device's clock reads more than `seconds`: a rate needs its two
        readings apart in the device's time (a condition, not a fixed sleep)."""
        while self.uptime_s() <= seconds:
            time.sleep(0.02)


def _ip(*args: str) -> str:
    done = subprocess.run(["ip", *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


def _link_stats(netns: str, dev: str) -> dict:
    [link] = json.loads(_ip("-n", netns, "-s", "-j", "link", "show", "dev", dev))
    return link["stats64"]


def _mac(netns: str, dev: str) -> str:
    [link] = json.loads(_ip("-n", netns, "-j", "link", "show", "dev", dev))
    return link["address"]


def start_snmpd_netns(workdir: Path) -> SnmpdNetns:
    """Two fresh namespaces joined by veth ports, and snmpd in the first. Needs root (the
    test fails under CI without it, and skips elsewhere)."""
    if os.geteuid() != 0:
        unavailable("snmpd in a network namespace needs root")
    require("ip", "the Debian package iproute2")
    tag = uuid.uuid4().hex[:6]
    ns, peer = f"lw-snmpd-{tag}", f"lw-snmpd-peer-{tag}"
    created = subprocess.run(["ip", "netns", "add", ns], capture_output=True, text=True)
    if created.returncode != 0:
        unavailable(f"cannot create a network namespace: {created.stderr.strip()}")
    try:
        _ip("netns", "add", peer)
        layout = SnmpdNetns   # the names and addresses, its defaults
        for mine, theirs in ((layout.port, layout.peer_port), (layout.down_port, "peer2")):
            _ip("-n", ns, "link", "add", mine, "type", "veth", "peer", "name", theirs,
                "netns", peer)
            _ip("-n", ns, "link", "set", mine, "addrgenmode", "none")   # no IPv6 chatter
            _ip("-n", peer, "link", "set", theirs, "addrgenmode", "none")
        _ip("-n", ns, "addr", "add", f"{layout.address}/30", "dev", layout.port)
        _ip("-n", peer, "addr", "add", f"{layout.peer_address}/30", "dev", layout.peer_port)
        _ip("-n", ns, "neigh", "add", layout.peer_address, "lladdr",
            _mac(peer, layout.peer_port), "dev", layout.port, "nud", "permanent")
        _ip("-n", peer, "neigh", "add", layout.address, "lladdr", _mac(ns, layout.port),
            "dev", layout.peer_port, "nud", "permanent")
        for netns, dev in ((ns, "lo"), (peer, "lo"), (ns, layout.port),
                           (peer, layout.peer_port)):
            _ip("-n", netns, "link", "set", dev, "up")
        server = start_snmpd(workdir, netns=ns, v6=True)
    except BaseException:
        for name in (peer, ns):
            subprocess.run(["ip", "netns", "del", name], capture_output=True)
        raise
    return SnmpdNetns(server=server, netns=ns, peer_netns=peer)


def stop_snmpd_netns(lan: SnmpdNetns) -> None:
    try:
        stop_snmpd(lan.server)
    finally:
        for name in (lan.peer_netns, lan.netns):
            subprocess.run(["ip", "netns", "del", name], capture_output=True)


@pytest.fixture(scope="session")
def snmpd_netns(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SnmpdNetns]:
    """One snmpd for the session in a network namespace of its own (see SnmpdNetns)."""
    with running(lambda: start_snmpd_netns(tmp_path_factory.mktemp("snmpd-netns")),
                 stop_snmpd_netns) as lan:
        yield lan


class MemoryStore:
    """The agent's StateStore contract, in memory (the agent backs it by its spool)."""

    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}

    def get_state(self, key: str) -> bytes | None:
        return self.data.get(key)

    def put_state(self, key: str, value: bytes) -> None:
        self.data[key] = value
