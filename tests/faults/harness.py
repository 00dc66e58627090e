"""The real agent process under test, its config, a pre-filled backlog, and the final drain.

Each scenario writes a config into its tmp dir, runs `python -m linkwatch agent run -c …` as
a subprocess (stdout and stderr into agent.log there), injects its fault, and waits on
conditions read from the agent's spool, its log or InfluxDB, never on fixed sleeps.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from linkwatch.agent.config import load_config
from linkwatch.agent.config.schema import Config
from linkwatch.agent.spool import Spool
from linkwatch.collector.sample import Sample

REPO = Path(__file__).resolve().parents[2]
AGENT_NAME = "island-agent"
SITE = "ngoc-vung"
_STARTED = " checks and "          # "started 21 checks and 1 outputs"


def wait_for(condition: Callable[[], object], timeout: float, what: str,
             every: float = 0.1) -> object:
    """Poll `condition` until it is truthy; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(every)


def write_config(directory: Path, *, url: str, db: str, pings: int = 20,
                 max_size: str = "256MiB", timeout: str = "2s", spool: str = "spool.db",
                 batch_size: int = 5000) -> Path:
    """20 ping checks of 127.0.0.x at 1 s (count 1) and the host check, one InfluxDB v1."""
    targets = "\n".join(
        f"    - {{name: lo{i:02d}, address: 127.0.0.{i}, interval: 1s, count: 1}}"
        for i in range(1, pings + 1))
    path = directory / "agent.yaml"
    path.write_text(textwrap.dedent(f"""\
        agent:
          name: {AGENT_NAME}
          site: {SITE}
          spool: {{path: '{spool}', max_size: {max_size}, history: 30d}}
        sites:
          - {{name: {SITE}}}
        outputs:
          - {{type: influxdb, url: '{url}', database: {db}, version: '1',
              timeout: {timeout}, batch_size: {batch_size}}}
        checks:
          host: {{interval: 1s}}
          ping:
        """) + targets + "\n")
    return path


def config_of(path: Path) -> Config:
    return load_config(path)


@dataclass
class SpoolView:
    collected: int
    dropped: int
    queued: int
    sent: int
    send_errors: int


def spool_view(config: Config) -> SpoolView:
    """The durable counters and the true queue depth, read while the agent runs."""
    path = config.agent.spool.path
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10) as db:
        counters = dict(db.execute("SELECT name, value FROM counter"))
        sent, errors = db.execute(
            "SELECT coalesce(sum(sent_total), 0), coalesce(sum(send_errors), 0) FROM output"
        ).fetchone()
        queued = db.execute("SELECT count(*) FROM queue").fetchone()[0]
    return SpoolView(counters["collected_total"], counters["dropped_total"], queued, sent,
                     errors)


@dataclass
class AgentProcess:
    """`linkwatch agent run -c CONFIG` as a child process, its log in `log_path`."""

    config_path: Path
    env: dict[str, str] = field(default_factory=dict)
    prefix: tuple[str, ...] = ()         # e.g. ("ip", "netns", "exec", NS): where it runs
    process: subprocess.Popen | None = None
    _starts_logged: int = 0

    @property
    def log_path(self) -> Path:
        return self.config_path.parent / "agent.log"

    def start(self) -> AgentProcess:
        env = {**os.environ, **self.env}
        self._starts_logged = self.log().count(_STARTED)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [*self.prefix, sys.executable, "-m", "linkwatch", "agent", "run", "-c",
                 str(self.config_path)],
                cwd=self.config_path.parent, env=env, stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL)
        return self

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def wait_started(self, timeout: float = 60) -> None:
        """Until this run has logged that its checks and outputs are started."""
        def started() -> bool:
            assert self.alive, f"agent exited with {self.process.returncode}: {self.log()}"
            return self.log().count(_STARTED) > self._starts_logged

        wait_for(started, timeout, "the agent to start its checks")

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> int:
        """SIGTERM and wait (the agent promises to exit within 5 s)."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError("the agent did not exit within 15 s of SIGTERM") from None

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait()


@dataclass(frozen=True)
class Backlog:
    """Days of a commune's pings, pre-filled into the spool as if the link had been down.

    `series` targets `island-NN`, one point each every `step_s`, the newest just before
    now; every tenth cycle is a loss (up=0, no RTT), as an island link has.
    """

    points: int
    series: int = 20
    step_s: float = 5.0
    end_ns: int = field(default_factory=lambda: time.time_ns() - 60 * 10**9)

    @property
    def step_ns(self) -> int:
        return int(self.step_s * 1e9)

    @property
    def first_ns(self) -> int:
        cycles = -(-self.points // self.series)
        return self.end_ns - cycles * self.step_ns

    def sample(self, i: int) -> Sample:
        k, s = divmod(i, self.series)
        up = 0 if k % 10 == 9 else 1
        fields: dict = {"sent": 1, "received": up, "loss_pct": 100.0 * (1 - up), "up": up}
        if up:
            fields["rtt_avg_ms"] = self.rtt(i)
        return Sample("ping", {"agent": AGENT_NAME, "site": SITE, "target": f"island-{s:02d}",
                               "address": f"127.0.1.{s}"}, fields, self.first_ns + k * self.step_ns)

    @staticmethod
    def rtt(i: int) -> float:
        return round(20.0 + (i * 7919 % 9973) / 100.0, 2)

    def samples(self, chunk: int = 20_000) -> Iterator[list[Sample]]:
        for start in range(0, self.points, chunk):
            yield [self.sample(i) for i in range(start, min(start + chunk, self.points))]

    def expected(self, keep: Callable[[int], bool] = lambda i: True) -> dict[str, tuple]:
        """Per target: (points, sum of up, sum of rtt_avg_ms) of the points `keep` accepts."""
        out: dict[str, list] = {}
        for i in range(self.points):
            if not keep(i):
                continue
            k, s = divmod(i, self.series)
            row = out.setdefault(f"island-{s:02d}", [0, 0, 0.0])
            up = 0 if k % 10 == 9 else 1
            row[0] += 1
            row[1] += up
            row[2] += self.rtt(i) if up else 0.0
        return {t: (n, u, round(r, 2)) for t, (n, u, r) in out.items()}


def prefill(config: Config, backlog: Backlog, chunk: int = 20_000) -> None:
    """Commit the backlog through the real Spool API, in big transactions (`chunk` samples
    each; a transaction must fit in the spool's size cap)."""
    settings = config.agent.spool
    spool = Spool.open(settings.path, max_size=int(settings.max_size),
                       history_s=float(settings.history),
                       outputs=[o.queue_name for o in config.outputs])
    try:
        for samples in backlog.samples(chunk):
            spool.append(samples)
    finally:
        spool.close()


def prefilled(directory: Path, backlog: Backlog, *, chunk: int = 20_000,
              **config: object) -> tuple[Path, Config]:
    """A scenario's start: the agent config written into `directory` (`config` as for
    `write_config`), loaded, and `backlog` committed to its spool as if the link had been
    down. Returns the config's path (for AgentProcess) and the loaded config."""
    path = write_config(directory, **config)
    loaded = config_of(path)
    prefill(loaded, backlog, chunk=chunk)
    return path, loaded


def settle(agent: AgentProcess, config: Config, influx, db: str, scenario: str, *,
           backlog_expected: dict | None = None):
    """Stop the agent (SIGTERM), ship what it left queued, and balance the books."""
    from tests.faults.ledger import balance

    assert agent.stop() == 0, agent.log()[-3000:]
    drain(config)
    return balance(scenario, config.agent.spool.path, influx, db,
                   backlog_expected=backlog_expected)


def drain(config: Config, timeout: float = 120) -> int:
    """After the agent stopped: ship what it left queued (its last `linkwatch` point) with
    the agent's own shipper, so the ledger can compare everything committed. Returns how
    many points that was."""
    from linkwatch.agent.outputs.shipper import Pacing, ship

    async def run() -> int:
        spool = Spool.open(config.agent.spool.path, max_size=int(config.agent.spool.max_size),
                           history_s=float(config.agent.spool.history), outputs=None,
                           check=False)
        try:
            before = sum(o.queued for o in spool.stats().outputs)
            for output in config.outputs:
                stop = asyncio.Event()
                task = asyncio.create_task(ship(spool, output, stop=stop,
                                                pacing=Pacing(backoff_cap=1.0)))
                deadline = time.monotonic() + timeout
                while any(o.queued for o in spool.stats().outputs
                          if o.output == output.queue_name):
                    if time.monotonic() > deadline:
                        raise AssertionError(f"could not drain {output.queue_name}")
                    await asyncio.sleep(0.05)
                stop.set()
                await task
            return before
        finally:
            spool.close()

    return asyncio.run(run())
