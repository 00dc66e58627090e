"""A real victoria-metrics (Debian `victoria-metrics`) on a private loopback port.

It takes line protocol on `/write` and `/api/v2/write` and names each series
`<measurement>_<field>` with the tags as labels; values come back as floats (strings are
stored as 0) with millisecond timestamps through `/api/v1/export`. Fresh rows become visible
after `/internal/force_flush`, so readers poll until what they expect is there.
"""

from __future__ import annotations

import gzip
import json
import subprocess
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.servers.process import (
    find,
    free_port,
    http_ok,
    running,
    start_logged,
    stop_process,
    wait_until,
)

BINARY = "victoria-metrics"
PACKAGE = "the Debian package victoria-metrics"
READY_TIMEOUT_S = 30.0


@dataclass
class VictoriaServer:
    root: Path
    port: int = field(default_factory=free_port)
    retention: str = "100y"
    dedup: bool = True
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        log_path = self.root / "victoria.log"
        self.process = start_logged(
            [
                BINARY,
                f"-httpListenAddr=127.0.0.1:{self.port}",
                f"-storageDataPath={self.root / 'data'}",
                f"-retentionPeriod={self.retention}",  # by default, points of any age
                # one sample per series and millisecond, as InfluxDB keeps one per time:
                # a point resent after a crash counts once (docs/scale.md)
                *(["-dedup.minScrapeInterval=1ms"] if self.dedup else []),
                "-loggerLevel=ERROR",
            ],
            log_path,
        )
        wait_until(http_ok(self.url + "/health"), self.process, self.url, log_path,
                   READY_TIMEOUT_S)

    def stop(self) -> None:
        if self.process is None:
            return
        stop_process(self.process)
        self.process = None

    def write(self, lines: list[bytes], *, batch: int = 50_000) -> None:
        """Line protocol to /write (204 each batch), then searchable at once."""
        for i in range(0, len(lines), batch):
            body = gzip.compress(b"\n".join(lines[i:i + batch]), 1)
            request = urllib.request.Request(self.url + "/write", data=body, method="POST",
                                             headers={"Content-Encoding": "gzip"})
            with urllib.request.urlopen(request, timeout=120) as response:
                assert response.status == 204, response.status
        self.flush()

    def flush(self) -> None:
        """Makes every point written so far searchable."""
        with urllib.request.urlopen(self.url + "/internal/force_flush", timeout=30):
            pass

    def export(self, match: str) -> list[dict]:
        """Series matching a selector, e.g. `{agent="x"}`: dicts of metric, values, timestamps."""
        self.flush()
        query = urllib.parse.urlencode({"match[]": match})
        with urllib.request.urlopen(f"{self.url}/api/v1/export?{query}", timeout=30) as r:
            return [json.loads(line) for line in r.read().splitlines() if line.strip()]

    def wait_for(
        self, match: str, done: Callable[[list[dict]], bool], timeout: float = 30.0
    ) -> list[dict]:
        """Polls the export until `done(series)` holds; returns the last export either way."""
        deadline = time.monotonic() + timeout
        while True:
            series = self.export(match)
            if done(series) or time.monotonic() > deadline:
                return series
            time.sleep(0.1)


def start_victoria(root: Path, *, retention: str = "100y", dedup: bool = True
                   ) -> VictoriaServer:
    """Starts victoria-metrics under `root` on a free loopback port; raises ServerMissing (a
    FileNotFoundError) naming the Debian package if it is not installed."""
    find(BINARY, PACKAGE)
    server = VictoriaServer(root, retention=retention, dedup=dedup)
    server.start()
    return server


@pytest.fixture(scope="session")
def victoria(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VictoriaServer]:
    with running(lambda: start_victoria(tmp_path_factory.mktemp("victoria")),
                 VictoriaServer.stop) as server:
        yield server


@pytest.fixture(scope="module")
def victoria_alone(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VictoriaServer]:
    """A victoria-metrics of the test module's own: it has no databases to keep tests apart,
    so a module whose queries read every series gets an empty one."""
    with running(lambda: start_victoria(tmp_path_factory.mktemp("victoria-alone")),
                 VictoriaServer.stop) as server:
        yield server


@pytest.fixture
def victoria_run() -> str:
    """A value for the `agent` tag no other test uses, to tell this test's series apart."""
    return "run-" + uuid.uuid4().hex[:12]
