"""A real InfluxDB 1.x (Debian `influxdb`, influxd 1.6.7) on a private loopback port.

`start_influxd(root)` and `InfluxServer` are plain code, used by the session fixture
`influxdb` and by bench/send.py. The server keeps its data under `root`, so `stop()` then
`start()` brings back the same databases on the same port.
"""

from __future__ import annotations

import base64
import functools
import json
import subprocess
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.netns import inside
from tests.servers.process import (  # ServerError and tail: importable from here as before
    ServerError,  # noqa: F401
    find,
    free_port,
    http_ok,
    running,
    start_logged,
    stop_process,
    tail,  # noqa: F401
    wait_until,
)

INFLUXD = "influxd"
PACKAGE = "the Debian package influxdb"
READY_TIMEOUT_S = 30.0


def _config(root: Path, port: int, rpc_port: int, auth: bool, host: str) -> str:
    return f"""\
reporting-disabled = true
bind-address = "127.0.0.1:{rpc_port}"

[meta]
  dir = "{root / 'meta'}"

[data]
  dir = "{root / 'data'}"
  wal-dir = "{root / 'wal'}"
  query-log-enabled = false

[monitor]
  store-enabled = false

[continuous_queries]
  enabled = false

[subscriber]
  enabled = false

[http]
  bind-address = "{host}:{port}"
  auth-enabled = {'true' if auth else 'false'}
  log-enabled = false

[logging]
  level = "error"
  suppress-logo = true
"""


@dataclass
class InfluxServer:
    """influxd with its config, data and log under `root`.

    With `netns`, it runs inside that network namespace, listening on `host` there, and
    `query` asks it from inside the namespace too.
    """

    root: Path
    port: int = field(default_factory=free_port)
    rpc_port: int = field(default_factory=free_port)
    auth: bool = False
    admin: tuple[str, str] = ("admin", "admin-secret")
    process: subprocess.Popen | None = None
    host: str = "127.0.0.1"
    netns: str | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.root / "influxd.log"

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        config = self.root / "influxdb.conf"
        config.write_text(_config(self.root, self.port, self.rpc_port, self.auth, self.host))
        command = [INFLUXD, "run", "-config", str(config)]
        if self.netns:
            command = ["ip", "netns", "exec", self.netns, *command]
        self.process = start_logged(command, self.log_path)
        ready = http_ok(self.url + "/ping")
        if self.netns:
            netns = self.netns
            ready = functools.partial(inside, netns, ready)
        wait_until(ready, self.process, self.url, self.log_path, READY_TIMEOUT_S)
        if self.auth:
            # With no user yet, influxd lets anyone create the first admin.
            user, password = self.admin
            self.query(f"CREATE USER {user} WITH PASSWORD '{password}' WITH ALL PRIVILEGES")

    def stop(self) -> None:
        if self.process is None:
            return
        stop_process(self.process)
        self.process = None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def query(self, q: str, db: str | None = None) -> list[dict]:
        """The `results` of an InfluxQL statement (POST /query); raises on an `error`."""
        if self.netns:
            return inside(self.netns, lambda: self._query(q, db))
        return self._query(q, db)

    def _query(self, q: str, db: str | None) -> list[dict]:
        params = {"q": q, "epoch": "ns"}
        if db:
            params["db"] = db
        request = urllib.request.Request(
            self.url + "/query", data=urllib.parse.urlencode(params).encode(), method="POST"
        )
        if self.auth:
            pair = ":".join(self.admin).encode()
            request.add_header("Authorization", "Basic " + base64.b64encode(pair).decode())
        with urllib.request.urlopen(request, timeout=30) as response:
            answer = json.load(response)
        results = answer.get("results", [])
        for result in results:
            if "error" in result:
                raise RuntimeError(f"InfluxQL {q!r}: {result['error']}")
        return results

    def create_database(self, name: str) -> None:
        self.query(f'CREATE DATABASE "{name}"')

    def drop_database(self, name: str) -> None:
        self.query(f'DROP DATABASE "{name}"')

    def points(self, db: str, measurement: str) -> list[dict]:
        """Every point of a measurement as a dict of time, tags and fields."""
        results = self.query(f'SELECT * FROM "{measurement}"', db=db)
        rows = []
        for series in results[0].get("series", []) if results else []:
            for values in series["values"]:
                row = dict(zip(series["columns"], values, strict=True))
                rows.append({k: v for k, v in row.items() if v is not None})
        return rows

    def field_types(self, db: str, measurement: str) -> dict[str, str]:
        results = self.query(f'SHOW FIELD KEYS FROM "{measurement}"', db=db)
        series = results[0].get("series", []) if results else []
        return {key: kind for s in series for key, kind in s["values"]}


def start_influxd(root: Path, *, auth: bool = False) -> InfluxServer:
    """Starts influxd under `root` on free loopback ports; raises ServerMissing (a
    FileNotFoundError) naming the Debian package if influxd is not installed."""
    find(INFLUXD, PACKAGE)
    server = InfluxServer(root, auth=auth)
    server.start()
    return server


@pytest.fixture(scope="session")
def influxdb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InfluxServer]:
    """One influxd for the session; tests may stop() and start() it (same port, same data)."""
    with running(lambda: start_influxd(tmp_path_factory.mktemp("influxd")),
                 InfluxServer.stop) as server:
        yield server


@pytest.fixture
def influx_db(influxdb: InfluxServer) -> Iterator[str]:
    """A fresh database on the session's influxd, dropped after the test."""
    name = "t_" + uuid.uuid4().hex[:12]
    if not influxdb.running:
        influxdb.start()
    influxdb.create_database(name)
    yield name
    if not influxdb.running:  # a test that stopped the server must not break the next one
        influxdb.start()
    influxdb.drop_database(name)
