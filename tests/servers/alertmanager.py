"""A real Prometheus Alertmanager (Debian `prometheus-alertmanager`) on a private loopback
port, clustering off, one receiver that sends nothing; alerts are read back through its
`/api/v2/alerts`."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request
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

BINARY = "prometheus-alertmanager"
PACKAGE = "the Debian package prometheus-alertmanager"
READY_TIMEOUT_S = 30.0
CONFIG = """\
route:
  receiver: nobody
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: nobody
"""


@dataclass
class AlertmanagerServer:
    root: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        config = self.root / "alertmanager.yml"
        config.write_text(CONFIG)
        log_path = self.root / "alertmanager.log"
        self.process = start_logged([
            BINARY, f"--config.file={config}", f"--storage.path={self.root / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}", "--cluster.listen-address=",
            "--log.level=warn"], log_path)
        wait_until(http_ok(self.url + "/-/ready"), self.process, self.url, log_path,
                   READY_TIMEOUT_S)

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)
            self.process = None

    def alerts(self, **labels: str) -> list[dict]:
        """The alerts it holds (active, resolved ones too) whose labels include `labels`."""
        query = "?active=true&silenced=true&inhibited=true&unprocessed=true"
        with urllib.request.urlopen(self.url + "/api/v2/alerts" + query, timeout=10) as r:
            found = json.loads(r.read())
        return [a for a in found if all(a["labels"].get(k) == v for k, v in labels.items())]

    def wait_for(self, done: Callable[[list[dict]], bool], timeout: float, what: str,
                 **labels: str) -> list[dict]:
        deadline = time.monotonic() + timeout
        while True:
            found = self.alerts(**labels)
            if done(found):
                return found
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout:g}s waiting for {what}: "
                                     f"{found}")
            time.sleep(0.2)


def start_alertmanager(root: Path) -> AlertmanagerServer:
    """Starts an Alertmanager under `root`; raises ServerMissing naming the package."""
    find(BINARY, PACKAGE)
    server = AlertmanagerServer(root)
    server.start()
    return server


@pytest.fixture(scope="session")
def alertmanager(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AlertmanagerServer]:
    with running(lambda: start_alertmanager(tmp_path_factory.mktemp("alertmanager")),
                 AlertmanagerServer.stop) as server:
        yield server
