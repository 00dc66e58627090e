"""The README's two commands, word for word, on a fresh Debian machine: as root on a machine
without sudo (as minimal images and containers are), and as a user with sudo.

The commands are read from README.md (its first two `sh` blocks), never copied here, and
run with bash in a checkout of this tree inside a booted minimal Debian 12 root. The
machine has no network: pip finds linkwatch's requirements in a local wheelhouse through
/etc/pip.conf, and the Debian packages `.ci/run` wants are in the root already (its
`apt-get install` is then not needed; `apt-get install -y python3-venv` answers from the
package lists).

Command 1 must end with the agent's status table. Command 2 is the suite's own `.ci/run`:
it is followed until it has installed everything and starts its first check, then stopped.
"""

from __future__ import annotations

import contextlib
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from tests.system.machine import PATH, Machine, boot
from tests.system.wheels import Dist, copy_source, pip_conf

pytestmark = pytest.mark.system

REPO = Path(__file__).resolve().parents[2]
USER = "admin"


def readme_commands() -> tuple[str, str]:
    """The install-and-run command and the test-suite command, as README.md prints them."""
    intro = (REPO / "README.md").read_text().split("\n## ", 1)[0]
    blocks = re.findall(r"^```sh\n(.*?)^```", intro, re.M | re.S)
    assert len(blocks) == 2, f"README.md: expected two sh blocks before the first section: {blocks}"
    first, second = (block.strip() for block in blocks)
    assert "\n" not in first and "\n" not in second, "each command is one line"
    return first, second


@pytest.fixture(scope="module")
def machine(base_root: Path, dist: Dist, wheels: Path, tmp_path_factory) -> Iterator[Machine]:
    work = tmp_path_factory.mktemp("readme")

    def prepare(root: Path) -> None:
        (root / "etc" / "pip.conf").write_text(pip_conf("/wheelhouse"))
        (root / "etc" / "sudoers.d" / USER).write_text(f"{USER} ALL=(ALL:ALL) NOPASSWD: ALL\n")
        (root / "etc" / "sudoers.d" / USER).chmod(0o440)
        copy_source(root / "root" / "linkwatch")

    with boot(base_root, work / "machine", bind_ro=[(wheels, "/wheelhouse")],
              prepare=prepare) as booted:
        booted.run("useradd", "--create-home", "--shell", "/bin/bash", USER)
        booted.run("cp", "-a", "/root/linkwatch", f"/home/{USER}/linkwatch")
        booted.run("chown", "-R", f"{USER}:{USER}", f"/home/{USER}/linkwatch")
        yield booted


def _without_sudo(machine: Machine):
    """sudo taken off the machine, as on a minimal Debian (put back afterwards)."""
    class Hidden:
        def __enter__(self) -> None:
            machine.run("mv", "/usr/bin/sudo", "/root/sudo.hidden")

        def __exit__(self, *exc) -> None:
            machine.run("mv", "/root/sudo.hidden", "/usr/bin/sudo")

    return Hidden()


def _assert_status_table(done: subprocess.CompletedProcess) -> None:
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    table = lines[-4:]  # the status table closes the output: header, then one row a target
    assert any(re.search(r"loopback-v4\s.*\bUP\b", line) for line in table), done.stdout
    assert any(re.search(r"loopback-v6\s.*\bUP\b", line) for line in table), done.stdout


def test_command_one_as_root_without_sudo_ends_with_the_status_table(machine: Machine) -> None:
    first, _ = readme_commands()
    with _without_sudo(machine):
        assert machine.run("sh", "-c", "command -v sudo", check=False).returncode != 0
        done = machine.run("bash", "-c", first, cwd="/root/linkwatch", check=False, timeout=600)
    _assert_status_table(done)


def test_command_one_as_a_user_with_sudo_ends_with_the_status_table(machine: Machine) -> None:
    first, _ = readme_commands()
    done = machine.run("bash", "-c", first, user=USER, cwd=f"/home/{USER}/linkwatch",
                       check=False, timeout=600)
    _assert_status_table(done)


def _installs(machine: Machine, command: str, *, user: str | None, cwd: str) -> str:
    """Run `command` until `.ci/run` reaches its first check (the install is then done),
    stop it there, and return what it printed."""
    inner = ["env", "-i", f"PATH={PATH}", "LANG=C.UTF-8",
             f"HOME={'/root' if user is None else f'/home/{user}'}", "bash", "-c", command]
    if user is not None:
        inner = ["runuser", "-u", user, "--", *inner]
    process = subprocess.Popen(
        ["nsenter", "-t", str(machine.leader), "-a", "sh", "-c",
         f"cd {cwd} && exec \"$@\"", "sh", *inner],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    printed = []
    try:
        for line in process.stdout:
            printed.append(line)
            if line.startswith("check-unit:"):  # .ci/run's first step after installing
                break
    finally:
        _kill_tree(process.pid)
        process.wait()
    return "".join(printed)


def _kill_tree(pid: int) -> None:
    """SIGKILL `pid` and every process it started (by id: the tree under nsenter)."""
    try:
        parent = psutil.Process(pid)
        tree = [*parent.children(recursive=True), parent]
    except psutil.NoSuchProcess:
        return
    for process in tree:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()


@pytest.mark.parametrize("who", ["root without sudo", "a user with sudo"])
def test_command_two_starts_and_installs(machine: Machine, who: str) -> None:
    _, second = readme_commands()
    user = None if who.startswith("root") else USER
    cwd = "/root/linkwatch" if user is None else f"/home/{USER}/linkwatch"
    if user is None:
        with _without_sudo(machine):
            printed = _installs(machine, second, user=None, cwd=cwd)
    else:
        printed = _installs(machine, second, user=user, cwd=cwd)
    assert "check-unit:" in printed, printed[-3000:]
    installed = machine.run(f"{cwd}/.venv/bin/python", "-c",
                            "import linkwatch.agent, pytest, snmpsim, matplotlib, scapy")
    assert installed.returncode == 0
