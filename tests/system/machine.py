"""A Debian machine booted with systemd: an overlay of the cached root, `systemd-nspawn
--boot`, and commands run inside it with nsenter.

The machine running the tests is not booted with systemd, so `systemctl` works only in
here. `--register=no` keeps nspawn from asking the host's (absent) systemd-machined. Each
machine writes into its own overlay, so the cached root stays as built, and what the
machine wrote can be read from the host at `machine.path("/var/lib/…")`.

    with boot(rootfs(), tmp_path) as machine:
        machine.run("systemctl", "is-system-running")
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import signal
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from tests.servers.process import require

T = TypeVar("T")
PATH = "/opt/linkwatch/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
BOOT_TIMEOUT_S = 120.0
HOSTNAME = "linkwatch-test"


class MachineError(AssertionError):
    """A command inside the machine failed, or the machine did not boot; with its output."""


@dataclass
class Machine:
    root: Path                     # the container's / as the host sees it
    process: subprocess.Popen      # systemd-nspawn
    leader: int                    # the container's PID 1 as the host sees it
    console: Path                  # what systemd printed while booting and stopping

    def path(self, inside: str) -> Path:
        """The host's path of `inside`, a path in the container."""
        return self.root / inside.lstrip("/")

    def run(self, *command: str, user: str | None = None, check: bool = True,
            timeout: float = 300, env: Mapping[str, str] | None = None,
            cwd: str = "/", input: str | None = None) -> subprocess.CompletedProcess:
        """`command` inside the machine, as root or as `user` (with that user's groups),
        in a clean environment (PATH, LANG, HOME and `env`)."""
        home = "/root" if user is None else f"/home/{user}"
        variables = {"PATH": PATH, "LANG": "C.UTF-8", "HOME": home, **(env or {})}
        inner = ["env", "-i", *(f"{k}={v}" for k, v in variables.items()), *command]
        if user is not None:
            inner = ["runuser", "-u", user, "--", *inner]
        shell = f"cd {shlex.quote(cwd)} && exec {shlex.join(inner)}"
        done = subprocess.run(["nsenter", "-t", str(self.leader), "-a", "sh", "-c", shell],
                              capture_output=True, text=True, timeout=timeout, input=input,
                              check=False)
        if check and done.returncode != 0:
            raise MachineError(f"inside the machine, `{shlex.join(command)}`"
                               f"{f' as {user}' if user else ''} exited {done.returncode}:\n"
                               f"{done.stdout}\n{done.stderr}")
        return done

    def sh(self, script: str, **kwargs) -> subprocess.CompletedProcess:
        """A shell script inside the machine (`sh -c`), as `run` runs a command."""
        return self.run("sh", "-c", script, **kwargs)

    def show(self, unit: str, *properties: str) -> dict[str, str]:
        """`systemctl show` of `unit`: property → value."""
        done = self.run("systemctl", "show", unit, *(f"--property={p}" for p in properties))
        return dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)

    def journal(self, unit: str, *args: str) -> list[dict]:
        """The unit's journal entries (journalctl -o json), oldest first."""
        done = self.run("journalctl", "--no-pager", "-o", "json", "-u", unit, *args)
        return [json.loads(line) for line in done.stdout.splitlines() if line.strip()]

    def write(self, inside: str, text: str, *, mode: int = 0o644) -> None:
        """Put a file into the machine (through its overlay)."""
        target = self.path(inside)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
        target.chmod(mode)

    def poweroff(self, timeout: float = 60) -> None:
        """`systemctl poweroff` inside; if the machine is not gone within `timeout`, its
        PID 1 is killed (which ends every process of the container) and nspawn with it."""
        if self.process.poll() is not None:
            return
        subprocess.run(["nsenter", "-t", str(self.leader), "-a", "systemctl", "poweroff"],
                       capture_output=True, check=False, timeout=30)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            kill(self.process, self.leader)


def wait_for(condition: Callable[[], T], what: str, timeout: float = 60,
             every: float = 0.1) -> T:
    """Poll `condition` until it returns something truthy; fail naming `what`."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(every)


@contextmanager
def boot(base: Path, workdir: Path, *, netns: str | None = None,
         bind_ro: Sequence[tuple[Path, str]] = (), prepare: Callable[[Path], None] | None = None
         ) -> Iterator[Machine]:
    """A machine booted from an overlay of `base`, its writes kept in `workdir`.

    With `netns` (a namespace under /run/netns) it shares that network namespace: its
    loopback is the namespace's, where the test can run servers; otherwise it gets a
    private one with a loopback only. `bind_ro` mounts host paths read-only inside.
    `prepare(root)` may change the overlay before boot (files, users, units).
    """
    require("systemd-nspawn", "the Debian package systemd-container")
    root, upper, work = workdir / "root", workdir / "upper", workdir / "work"
    for directory in (root, upper, work):
        directory.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "overlay", "overlay", "-o",
                    f"lowerdir={base},upperdir={upper},workdir={work}", str(root)],
                   check=True, capture_output=True)
    process = machine = None
    try:
        # the machine's own name, resolvable, as the Debian installer leaves it
        (root / "etc" / "hostname").write_text(f"{HOSTNAME}\n")
        with (root / "etc" / "hosts").open("a") as hosts:
            hosts.write(f"127.0.1.1\t{HOSTNAME}\n")
        if prepare is not None:
            prepare(root)
        network = ([f"--network-namespace-path=/run/netns/{netns}"] if netns
                   else ["--private-network"])
        binds = [f"--bind-ro={host}:{inside}" for host, inside in bind_ro]
        console = workdir / "console.log"
        with console.open("wb") as out:
            process = subprocess.Popen(
                ["systemd-nspawn", "--quiet", "--register=no", "--keep-unit", "--boot",
                 "--console=pipe", f"--hostname={HOSTNAME}", f"--directory={root}", *network,
                 *binds],
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
        machine = Machine(root, process, _leader(process, console), console)
        state = wait_for(lambda: _system_state(machine), "systemd to answer in the machine",
                         timeout=BOOT_TIMEOUT_S, every=0.2)
        if state not in ("running", "degraded"):
            raise MachineError(f"the machine did not boot: {state!r}; "
                               f"{console.read_text(errors='replace')[-2000:]}")
        yield machine
    finally:
        if machine is not None:
            machine.poweroff()
        elif process is not None:
            kill(process, _child(process))
        subprocess.run(["umount", str(root)], capture_output=True, check=False)


def _system_state(machine: Machine) -> str | None:
    """What `systemctl is-system-running --wait` says once the boot is over; None while
    systemd's bus is not up yet (right after the container starts)."""
    done = machine.run("systemctl", "is-system-running", "--wait", check=False,
                       timeout=BOOT_TIMEOUT_S)
    return done.stdout.strip() or None


def kill(nspawn: subprocess.Popen, leader: int | None) -> None:
    """SIGKILL the container's PID 1 (the kernel then kills its whole PID namespace) and
    systemd-nspawn: killing nspawn alone would leave the container running."""
    for pid in (leader, nspawn.pid):
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    nspawn.wait()


def _child(nspawn: subprocess.Popen) -> int | None:
    found = subprocess.run(["ps", "--ppid", str(nspawn.pid), "-o", "pid=,comm="],
                           capture_output=True, text=True, check=False).stdout.split()
    return int(found[0]) if found else None


def _leader(nspawn: subprocess.Popen, console: Path) -> int:
    """The container's PID 1: the systemd that nspawn's child process becomes (an
    intermediate child comes first, while nspawn sets up the namespaces)."""
    def systemd() -> int | None:
        if nspawn.poll() is not None:
            raise MachineError(f"systemd-nspawn exited {nspawn.returncode}: "
                               f"{console.read_text(errors='replace')[-2000:]}")
        found = subprocess.run(["ps", "--ppid", str(nspawn.pid), "-o", "pid=,comm="],
                               capture_output=True, text=True, check=False).stdout.split()
        return int(found[0]) if found[1:2] == ["systemd"] else None

    return wait_for(systemd, "systemd to start in the container", timeout=30)
