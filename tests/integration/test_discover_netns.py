"""`linkwatch discover` on a LAN this test builds: three hosts on a bridge, one with snmpd.

    scanner 10.77.9.1 ─┐
    host-a  10.77.9.11 ─┼─ br0 (in its own namespace)
    host-b  10.77.9.12 ─┤
    host-c  10.77.9.13 ─┘  runs snmpd with sysName lan-switch-c

Every frame stays on that bridge; the namespaces are deleted even when a test fails.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.servers.process import unavailable
from tests.servers.snmpd import client_env

pytestmark = pytest.mark.netns

REPO = Path(__file__).resolve().parents[2]
HOSTS = {"a": "10.77.9.11", "b": "10.77.9.12", "c": "10.77.9.13"}
SCANNER = "10.77.9.1"
COMMUNITY = "lw-discover"
SYS_NAME = "lan-switch-c"


def _run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, check=False, **kwargs)


def _ip(netns: str, *args: str) -> None:
    done = _run(["ip", "-n", netns, *args])
    assert done.returncode == 0, f"ip -n {netns} {' '.join(args)}: {done.stderr}"


@dataclass(frozen=True)
class Lan:
    switch: str
    scanner: str
    hosts: dict[str, str]   # namespace → address


@pytest.fixture(scope="module")
def lan(tmp_path_factory) -> Iterator[Lan]:
    if os.geteuid() != 0:
        unavailable("creating network namespaces needs root")
    if shutil.which("ip") is None or shutil.which("snmpd") is None:
        unavailable("needs iproute2's `ip` and net-snmp's snmpd")
    tag = uuid.uuid4().hex[:6]
    switch, scanner = f"lwds-{tag}", f"lwdn-{tag}"
    hosts = {f"lwd{k}-{tag}": address for k, address in HOSTS.items()}
    names = [switch, scanner, *hosts]
    snmpd: subprocess.Popen | None = None
    try:
        for name in names:
            created = _run(["ip", "netns", "add", name])
            if created.returncode != 0:
                unavailable(f"cannot create a network namespace: {created.stderr.strip()}")
            _ip(name, "link", "set", "lo", "up")
        _ip(switch, "link", "add", "br0", "type", "bridge")
        _ip(switch, "link", "set", "br0", "up")
        for i, (name, address) in enumerate([(scanner, SCANNER), *hosts.items()]):
            port = f"p{i}"
            _ip(switch, "link", "add", port, "type", "veth", "peer", "name", "eth0",
                "netns", name)
            _ip(switch, "link", "set", port, "master", "br0")
            _ip(switch, "link", "set", port, "up")
            _ip(name, "addr", "add", f"{address}/24", "dev", "eth0")
            _ip(name, "link", "set", "eth0", "up")
        snmpd = _start_snmpd(tmp_path_factory.mktemp("snmpd"), next(reversed(hosts)))
        yield Lan(switch, scanner, hosts)
    finally:
        if snmpd is not None:
            snmpd.terminate()
            try:
                snmpd.wait(timeout=10)
            except subprocess.TimeoutExpired:
                snmpd.kill()
        for name in names:
            _run(["ip", "netns", "del", name])


def _start_snmpd(workdir: Path, netns: str) -> subprocess.Popen:
    (workdir / "state").mkdir()
    conf = workdir / "snmpd.conf"
    conf.write_text(
        f"agentaddress udp:{HOSTS['c']}:161\n"
        f"rocommunity {COMMUNITY} 10.77.9.0/24\n"
        f"sysName {SYS_NAME}\n"
        "sysDescr linkwatch test switch\n"
        "sysLocation linkwatch test\n"
        "[snmp] mibs :\n"
    )
    env = client_env(workdir)
    process = subprocess.Popen(
        ["ip", "netns", "exec", netns, "snmpd", "-f", "-C", "-c", str(conf),
         "-Lf", str(workdir / "snmpd.log"), "-p", str(workdir / "snmpd.pid")],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    probe = ["ip", "netns", "exec", netns, "snmpget", "-v2c", "-c", COMMUNITY, "-t", "0.3",
             "-r", "0", "-On", f"udp:{HOSTS['c']}:161", ".1.3.6.1.2.1.1.5.0"]
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        if _run(probe, env=env).returncode == 0:
            return process
    process.kill()
    log = (workdir / "snmpd.log").read_text(errors="replace")
    pytest.fail(f"snmpd did not answer in its namespace:\n{log}")


def _discover(lan: Lan, *args: str, communities: tuple[str, ...] | None = None,
              env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    if communities is None:
        communities = ("--snmp-community", "not-this-one", "--snmp-community", COMMUNITY)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONDONTWRITEBYTECODE": "1",
           **(env or {})}
    return _run(["ip", "netns", "exec", lan.scanner, sys.executable, "-m", "linkwatch",
                 "discover", "--subnet", "10.77.9.0/24", "--rate", "500", *communities,
                 *args], env=env, cwd="/", timeout=120)


@pytest.mark.parametrize("given", ["file", "environment"])
def test_communities_from_a_file_or_the_environment_never_reach_the_command_line(
        lan, tmp_path, given):
    if given == "file":
        listed = tmp_path / "communities"
        listed.write_text(f"# district-wide\nnot-this-one\n\n{COMMUNITY}\n")
        done = _discover(lan, "--format", "json",
                         communities=("--snmp-community-file", str(listed)))
    else:
        done = _discover(lan, "--format", "json", communities=(),
                         env={"LINKWATCH_SNMP_COMMUNITY": f"not-this-one {COMMUNITY}"})
    assert done.returncode == 0, done.stderr
    found = {row["address"]: row for row in json.loads(done.stdout)}
    assert found[HOSTS["c"]]["sys_name"] == SYS_NAME


def test_discover_finds_every_host_and_the_snmp_agents_name(lan):
    done = _discover(lan, "--format", "json")
    assert done.returncode == 0, done.stderr
    found = {row["address"]: row for row in json.loads(done.stdout)}
    assert set(found) == set(HOSTS.values())
    assert all(len(row["mac"].split(":")) == 6 for row in found.values())
    assert found[HOSTS["c"]]["sys_name"] == SYS_NAME
    assert found[HOSTS["c"]]["sys_descr"] == "linkwatch test switch"
    assert found[HOSTS["c"]]["sys_object_id"].startswith("1.3.6.1.4.1.")
    assert "sys_name" not in found[HOSTS["a"]]  # no SNMP agent there


def test_the_config_snippet_is_a_valid_config(lan, tmp_path):
    from linkwatch.agent.config import load_config

    done = _discover(lan, "--config-snippet")
    assert done.returncode == 0, done.stderr
    config = tmp_path / "config.yaml"
    config.write_text(
        "agent:\n  name: lan\n  site: lan\n"
        f"  spool: {{path: {tmp_path / 'spool.db'}, max_size: 16MiB, history: 1d}}\n"
        "outputs: []\nsites:\n  - {name: lan}\n" + done.stdout
    )
    checks = load_config(config).checks
    assert {(c.name, c.address) for c in checks.of("ping")} == {
        ("host-10-77-9-11", HOSTS["a"]), ("host-10-77-9-12", HOSTS["b"]),
        (SYS_NAME, HOSTS["c"])}
    [snmp] = [c.spec for c in checks.of("snmp")]
    assert (snmp.name, snmp.address, snmp.community.reveal()) == (
        SYS_NAME, HOSTS["c"], COMMUNITY)
