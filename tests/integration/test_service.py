"""The agent process as systemd runs it: sd_notify messages, watchdog, reload, stop.

The test plays systemd's part: it binds the datagram socket named in $NOTIFY_SOCKET, sets
$WATCHDOG_USEC, and sends the signals `systemctl reload` and `systemctl stop` send. The
checks ping this machine's loopback (the test runs as root, so raw ICMP sockets work).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.servers.process import unavailable

REPO = Path(__file__).resolve().parents[2]
WAIT_S = 30.0  # generous bound for anything that should take a second or two

CONFIG = """\
agent:
  name: service-test
  site: lab
  spool: {{path: ./spool.db}}
outputs: []
sites:
  - {{name: lab}}
checks:
  ping:
{pings}
"""


def _config(path: Path, *targets: tuple[str, str]) -> None:
    pings = "".join(f"    - {{name: {name}, address: {address}, interval: 1s, count: 1}}\n"
                    for name, address in targets)
    path.write_text(CONFIG.format(pings=pings))


@dataclass
class NotifySocket:
    """systemd's end of sd_notify: every message the agent sent, in order."""

    path: Path
    sock: socket.socket = field(init=False)
    messages: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(self.path))
        self.sock.settimeout(0.5)

    def wait_for(self, wanted: Callable[[str], bool], what: str, *, since: int | None = None
                 ) -> str:
        """The first message for which `wanted` is true: from now on, or from the
        `since`-th message received."""
        if since is not None:
            for message in self.messages[since:]:
                if wanted(message):
                    return message
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            try:
                message = self.sock.recv(4096).decode()
            except TimeoutError:
                continue
            self.messages.append(message)
            if wanted(message):
                return message
        raise AssertionError(f"no {what} within {WAIT_S}s; received: {self.messages}")

    def close(self) -> None:
        self.sock.close()


@dataclass
class Agent:
    process: subprocess.Popen
    config: Path
    log: Path
    notify: NotifySocket

    @property
    def reader(self) -> Path:
        # a valid copy of the config for reading the spool while the agent's is broken
        return self.config.with_name("reader.yaml")

    def stderr(self) -> str:
        return self.log.read_text()

    def status(self) -> dict[str, dict]:
        """`linkwatch status --local` by target, read from the spool while the agent runs."""
        result = subprocess.run(
            [sys.executable, "-m", "linkwatch", "status", "--local", "-c", str(self.reader),
             "--format", "json"],
            capture_output=True, text=True, cwd=REPO, env=_env(), check=False)
        if result.returncode not in (0, 1):
            raise AssertionError(result.stderr)
        return {row["target"]: row for row in json.loads(result.stdout or "[]")}

    def wait_until_polled(self, target: str, *, after: str = "") -> str:
        """The `last_seen` of `target`, once it is later than `after`."""
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            row = self.status().get(target)
            if row and row["state"] == "UP" and row["last_seen"] > after:
                return row["last_seen"]
            time.sleep(0.2)
        raise AssertionError(f"{target} not polled (after {after!r}); log:\n{self.stderr()}")


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "JOURNAL_STREAM")}
    env.update(extra)
    return env


@pytest.fixture
def agent(tmp_path: Path) -> Iterator[Agent]:
    if os.geteuid() != 0:
        unavailable("the checks ping over raw ICMP sockets, which needs root here")
    config = tmp_path / "config.yaml"
    _config(config, ("first", "127.0.0.1"))
    notify = NotifySocket(tmp_path / "notify")
    log = tmp_path / "agent.log"
    with log.open("w") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "linkwatch", "agent", "run", "-c", str(config)],
            cwd=REPO, stdin=subprocess.DEVNULL, stdout=stderr, stderr=stderr,
            env=_env(NOTIFY_SOCKET=str(notify.path), WATCHDOG_USEC="1000000"))
    running = Agent(process, config, log, notify)
    running.reader.write_text(config.read_text())
    try:
        yield running
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        notify.close()


def _stop(agent: Agent) -> int:
    agent.process.send_signal(signal.SIGTERM)
    # the documented promise: SIGTERM stops the agent within 5 s
    return agent.process.wait(timeout=5)


def test_ready_then_watchdog_pings_and_status_updates(agent: Agent):
    ready = agent.notify.wait_for(lambda m: "READY=1" in m, "READY=1")
    assert "STATUS=1 checks, 0 failing" in ready

    after_ready = len(agent.notify.messages)

    # WATCHDOG_USEC=1 s: a ping every half second; several must keep coming
    for _ in range(4):
        agent.notify.wait_for(lambda m: m == "WATCHDOG=1", "WATCHDOG=1")

    # the first poll of the target is a change of state: `systemctl status` hears of it
    # at once, not only at the 30 s refresh
    status = agent.notify.wait_for(lambda m: m.startswith("STATUS="), "a STATUS= update",
                                   since=after_ready)
    assert status.startswith("STATUS=1 checks, 0 failing, 0 targets down;")

    assert _stop(agent) == 0
    agent.notify.wait_for(lambda m: m == "STOPPING=1", "STOPPING=1")


@pytest.mark.parametrize(("broken", "where"), [
    # a device string pasted from `discover --config-snippet`: ReaderError in PyYAML
    (lambda text: text.replace("name: first", "name: fi\x1b]0;rst", 1), ":10:16:"),
    # nesting deeper than Python's recursion limit: RecursionError
    (lambda text: text + "x-deep: " + "{a: " * 990 + "1" + "}" * 990 + "\n", ""),
    # text that is not UTF-8
    (lambda text: text.replace("first", "fi\udcffrst", 1), ""),
])
def test_a_config_that_cannot_be_read_on_reload_never_stops_the_agent(agent: Agent, broken,
                                                                      where: str):
    agent.notify.wait_for(lambda m: "READY=1" in m, "READY=1")
    seen = agent.wait_until_polled("first")
    agent.config.write_bytes(broken(agent.config.read_text()).encode("utf-8",
                                                                     "surrogateescape"))
    agent.process.send_signal(signal.SIGHUP)
    agent.notify.wait_for(lambda m: "READY=1" in m, "READY=1 after the failed reload")
    assert agent.process.poll() is None, agent.stderr()
    log = agent.stderr()
    assert "config reload failed; keeping the running config" in log
    assert f"{agent.config}{where}" in log        # the file, and the line where there is one
    assert "Traceback" not in log
    agent.wait_until_polled("first", after=seen)   # still polling with the kept config
    assert _stop(agent) == 0


def test_sighup_loads_a_new_check_and_keeps_the_old_config_when_broken(agent: Agent):
    agent.notify.wait_for(lambda m: "READY=1" in m, "READY=1")
    agent.wait_until_polled("first")

    _config(agent.config, ("first", "127.0.0.1"), ("second", "127.0.0.2"))
    agent.process.send_signal(signal.SIGHUP)
    agent.notify.wait_for(lambda m: m.startswith("RELOADING=1\nMONOTONIC_USEC="),
                          "RELOADING=1")
    reloaded = agent.notify.wait_for(lambda m: "READY=1" in m, "READY=1 after the reload")
    assert "STATUS=2 checks" in reloaded
    agent.wait_until_polled("second")

    good = agent.config.read_text()
    agent.reader.write_text(good)
    agent.config.write_text(good.replace("interval: 1s", "interval: soon", 1))
    agent.process.send_signal(signal.SIGHUP)
    agent.notify.wait_for(lambda m: "READY=1" in m, "READY=1 after the failed reload")
    assert "STATUS=2 checks" in agent.notify.messages[-1]  # still the old config's checks
    log = agent.stderr()
    assert "config reload failed; keeping the running config" in log
    assert f"{agent.config}:10" in log  # the file and line of the bad value

    # both checks of the kept config are still polled
    for target in ("first", "second"):
        seen = agent.status()[target]["last_seen"]
        agent.wait_until_polled(target, after=seen)
    assert agent.process.poll() is None

    assert _stop(agent) == 0
    # everything collected is committed: a reader sees the last cycles and the agent's
    # own health point, written on the way out
    after = agent.status()
    assert after["first"]["state"] == after["second"]["state"] == "UP"
    health = subprocess.run(
        [sys.executable, "-c",
         "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]);"
         "print(c.execute(\"SELECT count(*) FROM point WHERE measurement='linkwatch'\")"
         ".fetchone()[0])", str(agent.config.parent / "spool.db")],
        capture_output=True, text=True, check=True)
    assert int(health.stdout) >= 1
