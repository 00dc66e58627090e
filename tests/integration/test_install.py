"""`linkwatch agent install` / `uninstall` for real, into a temporary root, and the installed
agent running with least privilege: as the service user with only CAP_NET_RAW, and with no
capability at all where a network namespace's ping_group_range admits its group.

The machine running the tests is not booted with systemd, so no systemctl is called; the
unit is checked with `systemd-analyze verify`. The install creates a real system user with
a unique name and `uninstall --purge` removes it again.
"""

from __future__ import annotations

import grp
import json
import os
import pwd
import shutil
import stat
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from linkwatch.agent.operations.install import unreachable_by_others
from tests.netns import namespace, require_ip
from tests.servers.process import unavailable

REPO = Path(__file__).resolve().parents[2]
CAP_NET_RAW = 1 << 13
UNITS = ("linkwatch-agent.service", "linkwatch-report.service", "linkwatch-report.timer")

# setpriv as systemd applies User=, AmbientCapabilities= and CapabilityBoundingSet=
ONLY_NET_RAW = ["--inh-caps=-all,+net_raw", "--ambient-caps=+net_raw",
                "--bounding-set=-all,+net_raw", "--no-new-privs"]
NO_CAPS = ["--inh-caps=-all", "--bounding-set=-all", "--no-new-privs"]

PING_CONFIG = """\
agent:
  name: installed
  site: lab
  spool: {{path: {spool}}}
outputs: []
sites:
  - {{name: lab}}
checks:
  ping:
    - {{name: lo4, address: 127.0.0.1, interval: 10s, count: 3}}
    - {{name: lo6, address: "::1", interval: 10s, count: 3}}
"""


def _run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=300,
                          **kwargs)


def _cli(*args: str) -> subprocess.CompletedProcess:
    """linkwatch from this source tree, as an administrator runs it before installing."""
    env = dict(os.environ)
    return _run([sys.executable, "-m", "linkwatch", "agent", *args], cwd=REPO, env=env)


@dataclass
class Root:
    """A temporary stand-in for /: where an install goes, and which user it makes."""

    path: Path
    user: str

    @property
    def prefix(self) -> Path:
        return self.path / "opt" / "linkwatch"

    @property
    def config_dir(self) -> Path:
        return self.path / "etc" / "linkwatch"

    @property
    def systemd_dir(self) -> Path:
        return self.path / "etc" / "systemd" / "system"

    @property
    def state_dir(self) -> Path:
        return self.path / "var" / "lib" / "linkwatch"

    @property
    def program(self) -> str:
        return str(self.prefix / "bin" / "linkwatch")

    def options(self) -> list[str]:
        return ["--prefix", str(self.prefix), "--config-dir", str(self.config_dir),
                "--systemd-dir", str(self.systemd_dir), "--state-dir", str(self.state_dir),
                "--user", self.user]

    def as_user(self, caps: list[str], *command: str) -> subprocess.CompletedProcess:
        """`command` as the service user with `caps`, in a clean environment."""
        return _run(["setpriv", f"--reuid={self.user}", f"--regid={self.user}",
                     "--clear-groups", *caps, *command],
                    env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}, cwd="/")


def _service_python() -> str:
    """An interpreter the service user can run, with `venv` (Debian: python3-venv)."""
    from linkwatch.agent.operations.install import default_python

    for python in dict.fromkeys([default_python(), "/usr/bin/python3"]):
        if not Path(python).exists() or unreachable_by_others(Path(python)) is not None:
            continue
        if _run([python, "-c", "import ensurepip, venv"]).returncode == 0:
            return python
    unavailable("no interpreter with venv outside a closed directory (apt-get install "
                "python3-venv)")


def _new_root() -> Root:
    # not pytest's tmp_path: /tmp/pytest-of-root is closed to the service user
    path = Path(tempfile.mkdtemp(prefix="linkwatch-root-"))
    path.chmod(0o755)
    return Root(path, f"lw{uuid.uuid4().hex[:8]}")


def _remove(root: Root) -> None:
    _cli("uninstall", "--purge", *root.options())
    if _run(["id", root.user]).returncode == 0:  # the uninstall failed half-way
        _run(["userdel", root.user])
    shutil.rmtree(root.path, ignore_errors=True)


def _install(root: Root, python: str) -> subprocess.CompletedProcess:
    result = _cli("install", "--python", python, *root.options())
    assert result.returncode == 0, result.stdout + result.stderr
    return result


@pytest.fixture(scope="module")
def installed() -> Iterator[tuple[Root, subprocess.CompletedProcess]]:
    if os.geteuid() != 0:
        unavailable("installing creates a system user: needs root")
    for tool in ("useradd", "setpriv"):
        if shutil.which(tool) is None:
            unavailable(f"{tool} is not installed")
    python = _service_python()
    root = _new_root()
    try:
        yield root, _install(root, python)
    finally:
        _remove(root)


def _ping_config(root: Root, name: str) -> Path:
    """A config of loopback pings, readable by the service's group only (as installed)."""
    path = root.config_dir / name
    path.write_text(PING_CONFIG.format(spool=root.state_dir / f"{path.stem}.db"))
    os.chown(path, 0, grp.getgrnam(root.user).gr_gid)
    path.chmod(0o640)
    return path


def _targets(root: Root, config: Path) -> dict[str, dict]:
    result = root.as_user([], root.program, "status", "--local", "-c", str(config),
                          "--format", "json")
    assert result.returncode == 0, result.stderr
    return {row["target"]: row for row in json.loads(result.stdout)}


def test_install_puts_a_service_in_place_and_says_what_to_do_next(installed):
    root, result = installed
    out = result.stdout

    unit = (root.systemd_dir / "linkwatch-agent.service").read_text()
    assert f"ExecStart={root.program} agent run -c {root.config_dir / 'config.yaml'}" in unit
    assert f"\nUser={root.user}\n" in unit and f"\nGroup={root.user}\n" in unit
    assert "AmbientCapabilities=CAP_NET_RAW" in unit
    if shutil.which("systemd-analyze"):
        verify = _run(["systemd-analyze", "verify", "--man=no", "--generators=no",
                       *(str(root.systemd_dir / name) for name in UNITS)])
        assert verify.returncode == 0 and not verify.stderr.strip(), verify.stderr

    # the monthly report: its service (this layout's paths and user), its timer, and the
    # report extra it renders with
    report = (root.systemd_dir / "linkwatch-report.service").read_text()
    assert f"{root.program} report --period" in report
    assert f"LINKWATCH_CONFIG={root.config_dir / 'config.yaml'}" in report
    assert f"ReadWritePaths={root.state_dir}" in report and f"\nUser={root.user}\n" in report
    timer = (root.systemd_dir / "linkwatch-report.timer").read_text()
    assert "OnCalendar=*-*-01 06:00:00" in timer
    extra = _run([str(root.prefix / "bin" / "python"), "-c", "import matplotlib, numpy"])
    assert extra.returncode == 0, extra.stderr

    user = pwd.getpwnam(root.user)
    assert user.pw_uid < 1000 and user.pw_shell == "/usr/sbin/nologin"

    config = root.config_dir / "config.yaml"
    st = config.stat()
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (0o640, 0, user.pw_gid)
    assert f"path: {root.state_dir / 'spool.db'}" in config.read_text()
    assert f"{config}: OK" in out  # the installed program checked the installed config

    version = _run([root.program, "--version"])
    assert version.returncode == 0 and "linkwatch" in version.stdout
    # the machine runs without systemd: nothing was started, the commands are printed
    assert "systemctl daemon-reload" in out
    assert "systemctl enable --now linkwatch-agent" in out
    assert "systemctl enable --now linkwatch-report.timer" in out


def test_the_installed_agent_pings_as_the_service_user_with_only_cap_net_raw(installed, netns):
    root, _ = installed
    config = _ping_config(root, "raw.yaml")

    # what setpriv leaves the process: the service user, CAP_NET_RAW and nothing else
    caps = root.as_user(ONLY_NET_RAW, "grep", "-E", "^(Uid|CapEff|CapBnd):", "/proc/self/status")
    fields = dict(line.split(":", 1) for line in caps.stdout.splitlines())
    assert fields["Uid"].split()[0] == str(pwd.getpwnam(root.user).pw_uid)
    assert int(fields["CapEff"], 16) == int(fields["CapBnd"], 16) == CAP_NET_RAW

    ran = root.as_user(ONLY_NET_RAW, root.program, "agent", "run", "--once", "-c", str(config))
    assert ran.returncode == 0, ran.stderr
    targets = _targets(root, config)
    assert {t: targets[t]["state"] for t in ("lo4", "lo6")} == {"lo4": "UP", "lo6": "UP"}

    # the capability is what made it work: without it, where ping_group_range admits no
    # group (Debian 12's default, set in a namespace of the test's own whatever this
    # machine's setting is), the agent says which fix to apply
    forbid = _run(["ip", "netns", "exec", netns, "sysctl", "-qw",
                   "net.ipv4.ping_group_range=1 0"])
    assert forbid.returncode == 0, forbid.stderr
    refused = _run(["ip", "netns", "exec", netns, "setpriv", f"--reuid={root.user}",
                    f"--regid={root.user}", "--clear-groups", *NO_CAPS, root.program, "agent",
                    "run", "--once", "-c", str(config)],
                   env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}, cwd="/")
    assert refused.returncode != 0
    assert "CAP_NET_RAW" in refused.stderr and "docs/operations.md#ping" in refused.stderr


@pytest.fixture
def netns() -> Iterator[str]:
    require_ip(root=False)  # the `installed` fixture beside it already needs root
    with namespace(f"lwinst-{uuid.uuid4().hex[:8]}") as name:
        yield name


@pytest.mark.netns
def test_with_no_capability_the_agent_pings_where_ping_group_range_admits_its_group(
    installed, netns
):
    root, _ = installed
    gid = grp.getgrnam(root.user).gr_gid
    # per network namespace: only the service's group may open datagram ICMP sockets here
    allowed = _run(["ip", "netns", "exec", netns, "sysctl", "-w",
                    f"net.ipv4.ping_group_range={gid} {gid}"])
    assert allowed.returncode == 0, allowed.stderr
    config = _ping_config(root, "datagram.yaml")

    in_netns = ["ip", "netns", "exec", netns, "setpriv", f"--reuid={root.user}",
                f"--regid={root.user}", "--clear-groups", *NO_CAPS]
    caps = _run([*in_netns, "grep", "^CapEff:", "/proc/self/status"])
    assert int(caps.stdout.split()[1], 16) == 0

    ran = _run([*in_netns, root.program, "agent", "run", "--once", "-c", str(config)],
               env={"PATH": "/usr/bin:/bin"}, cwd="/")
    assert ran.returncode == 0, ran.stderr
    targets = _targets(root, config)
    assert {t: targets[t]["state"] for t in ("lo4", "lo6")} == {"lo4": "UP", "lo6": "UP"}


def test_installing_again_upgrades_and_never_overwrites_the_config(installed):
    root, _ = installed
    config = root.config_dir / "config.yaml"
    edited = config.read_text() + "# district: edited by hand\n"
    config.write_text(edited)
    unit = root.systemd_dir / "linkwatch-agent.service"
    unit.write_text("stale\n")

    again = _install(root, _service_python())
    assert config.read_text() == edited
    assert f"{config} exists: kept as it is" in again.stdout
    assert "ExecStart=" in unit.read_text()  # the unit is the shipped one again


def test_dry_run_changes_nothing(tmp_path):
    root = Root(tmp_path / "root", "linkwatch")
    result = _cli("install", "--dry-run", "--python", "/usr/bin/python3", *root.options())
    assert result.returncode == 0, result.stderr
    assert f"would run: /usr/bin/python3 -m venv {root.prefix}" in result.stdout
    assert "would run: install -m 0640 -o root -g linkwatch config.yaml" in result.stdout
    assert not root.path.exists()


def test_an_interpreter_the_service_user_cannot_reach_is_refused(tmp_path):
    # like a pyenv interpreter under /root: the directory is closed, not the file
    open_dir = Path(tempfile.mkdtemp(prefix="linkwatch-python-"))
    open_dir.chmod(0o755)
    closed = open_dir / "home"
    (closed / "bin").mkdir(parents=True)
    closed.chmod(0o700)
    python = closed / "bin" / "python3"
    python.write_text("")
    python.chmod(0o755)
    result = _cli("install", "--dry-run", "--python", str(python),
                  *Root(tmp_path / "root", "linkwatch").options())
    assert result.returncode == 1
    assert f"{closed} is closed to other users" in result.stderr
    assert "--python /usr/bin/python3" in result.stderr
    shutil.rmtree(open_dir)


def test_uninstall_keeps_config_and_spool_and_purge_removes_them():
    if os.geteuid() != 0 or shutil.which("useradd") is None:
        unavailable("installing creates a system user: needs root and useradd")
    root = _new_root()
    try:
        _install(root, _service_python())
        spool = root.state_dir / "spool.db"
        spool.write_bytes(b"")

        kept = _cli("uninstall", *root.options())
        assert kept.returncode == 0, kept.stderr
        assert not root.prefix.exists()
        assert not any(root.systemd_dir.glob("linkwatch-*"))
        assert (root.config_dir / "config.yaml").exists() and spool.exists()
        assert "systemctl disable --now linkwatch-agent" in kept.stdout  # printed, not run

        purged = _cli("uninstall", "--purge", *root.options())
        assert purged.returncode == 0, purged.stderr
        assert not root.config_dir.exists() and not root.state_dir.exists()
        assert _run(["id", root.user]).returncode != 0
    finally:
        _remove(root)
