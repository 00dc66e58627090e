"""A real net-snmp `snmpd` on a private loopback port, with a v2c community and a v3 user.

`start_snmpd` is also used to run one inside a network namespace (pass `netns`), so the
end-to-end link tests and the bench share one way of configuring it.
"""

from __future__ import annotations

import os
import subprocess
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
                ready_timeout: float = 15.0) -> Snmpd:
    """Start snmpd in the foreground (`-f`) and return once it answers a GET.

    A missing snmpd or snmpget skips the calling test (fails it under CI)."""
    require("snmpd", PACKAGES)
    require("snmpget", PACKAGES)
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "state").mkdir(exist_ok=True)
    port = port or free_udp_port(host)
    conf = workdir / "snmpd.conf"
    lines = [
        f"agentaddress udp:{host}:{port}",
        f"rocommunity {COMMUNITY} {host}",
        *(f"rocommunity {c} {host}" for c in extra_communities),
        f"rwcommunity {ADMIN_COMMUNITY} {host} .1.3.6.1.4.1.8072.1.5",
        f"createUser {V3_USER} SHA {V3_AUTH_KEY} AES {V3_PRIV_KEY}",
        f"rouser {V3_USER} priv",
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


class MemoryStore:
    """The agent's StateStore contract, in memory (the agent backs it by its spool)."""

    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}

    def get_state(self, key: str) -> bytes | None:
        return self.data.get(key)

    def put_state(self, key: str, value: bytes) -> None:
        self.data[key] = value
