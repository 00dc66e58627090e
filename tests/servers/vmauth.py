"""A victoria-metrics cluster's URL layout, built from what Debian's victoria-metrics package
ships (it has no vminsert, vmselect or vmstorage): `vmauth` in front, routing

    /insert/<tenant>/influx/write   → vmagent, served under /insert/<tenant>/influx (so the
                                      path left is its own /write), which sends what it
                                      receives on to the single node
    /select/<tenant>/prometheus/…   → the single node, served under that path prefix

so a client sees one address that answers exactly the paths of vminsert and vmselect for
one tenant, and nothing else (vmauth answers a path it has no route for with an error).
vmauth admits requests that carry its bearer token only.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
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
from tests.servers.victoria import BINARY, PACKAGE, READY_TIMEOUT_S

TOKEN = "vmauth-test-token"


@dataclass
class ClusterLayout:
    root: Path
    tenant: str = "42:1"
    port: int = field(default_factory=free_port)           # vmauth: the one address
    agent_port: int = field(default_factory=free_port)
    storage_port: int = field(default_factory=free_port)
    processes: list[subprocess.Popen] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def select_prefix(self) -> str:
        return f"/select/{self.tenant}/prometheus"

    @property
    def storage_url(self) -> str:
        """The single node itself, under its path prefix (not through vmauth)."""
        return f"http://127.0.0.1:{self.storage_port}{self.select_prefix}"

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        insert = f"/insert/{self.tenant}"
        self._run(BINARY, [
            f"-httpListenAddr=127.0.0.1:{self.storage_port}",
            f"-storageDataPath={self.root / 'data'}", "-retentionPeriod=100y",
            "-dedup.minScrapeInterval=1ms", f"-http.pathPrefix={self.select_prefix}",
            "-loggerLevel=ERROR"], self.storage_url + "/health")
        self._run("vmagent", [
            f"-httpListenAddr=127.0.0.1:{self.agent_port}",
            f"-http.pathPrefix={insert}/influx",
            f"-remoteWrite.url={self.storage_url}/api/v1/write",
            f"-remoteWrite.tmpDataPath={self.root / 'vmagent'}",
            "-remoteWrite.flushInterval=100ms", "-loggerLevel=ERROR"],
            f"http://127.0.0.1:{self.agent_port}{insert}/influx/health")
        config = self.root / "vmauth.yml"
        config.write_text(
            "users:\n"
            f"  - bearer_token: {TOKEN}\n"
            "    url_map:\n"
            f'      - src_paths: ["{insert}/.*"]\n'
            f'        url_prefix: "http://127.0.0.1:{self.agent_port}"\n'
            f'      - src_paths: ["{self.select_prefix}/.*"]\n'
            f'        url_prefix: "http://127.0.0.1:{self.storage_port}"\n')
        self._run("vmauth", [f"-httpListenAddr=127.0.0.1:{self.port}",
                             f"-auth.config={config}", "-loggerLevel=ERROR"],
                  self.url + "/health")

    def _run(self, program: str, args: list[str], ready: str) -> None:
        log = self.root / f"{program}.log"
        process = start_logged([program, *args], log)
        self.processes.append(process)
        wait_until(http_ok(ready), process, f"{program} at {ready}", log, READY_TIMEOUT_S)

    def flush(self) -> None:
        """Makes what reached the single node searchable."""
        import urllib.request

        with urllib.request.urlopen(self.storage_url + "/internal/force_flush", timeout=30):
            pass

    def stop(self) -> None:
        for process in reversed(self.processes):
            stop_process(process)
        self.processes.clear()


def start_cluster_layout(root: Path) -> ClusterLayout:
    for program in (BINARY, "vmagent", "vmauth"):
        find(program, PACKAGE)
    layout = ClusterLayout(root)
    try:
        layout.start()
    except BaseException:
        layout.stop()
        raise
    return layout


@pytest.fixture(scope="module")
def cluster_layout(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClusterLayout]:
    with running(lambda: start_cluster_layout(tmp_path_factory.mktemp("cluster")),
                 ClusterLayout.stop) as layout:
        yield layout
