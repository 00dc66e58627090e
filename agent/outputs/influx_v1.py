"""InfluxDB 1.x `/write` over one persistent HTTP connection, with the standard library only.

The v1 path is what most agents use, so it stays light: no client library (influxdb_client
costs about 0.5 s and 27 MB to import). The same endpoint serves InfluxDB 1.x, the
v1-compatible API of 2.x/3.x (with `token`) and victoria-metrics.
"""

from __future__ import annotations

import base64
import contextlib
import gzip
import http.client
import json
import socket
import threading
import urllib.parse
from dataclasses import dataclass

from linkwatch.agent.config.schema import InfluxOutput, shown_url
from linkwatch.agent.outputs.result import MESSAGE_LIMIT, WriteResult, from_answer, from_exception
from linkwatch.collector.units import Secret

# Level 1 compresses line protocol about 8:1 at a fraction of the CPU of the default level.
GZIP_LEVEL = 1


@dataclass(frozen=True)
class Endpoint:
    """Where and how to reach a server, parsed once from the output's url."""

    scheme: str
    host: str
    port: int
    path: str      # a prefix when the server sits behind a proxy path, else ""

    @classmethod
    def parse(cls, url: str) -> Endpoint:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"output url {shown_url(url)!r} must look like http://host:8086")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        return cls(parts.scheme, parts.hostname, port, parts.path.rstrip("/"))

    def connect(self, timeout: float) -> http.client.HTTPConnection:
        if self.scheme == "https":
            return http.client.HTTPSConnection(self.host, self.port, timeout=timeout)
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout)


class Connection:
    """One keep-alive HTTP connection, reopened after any error.

    A server may close an idle keep-alive connection at any time; a request that fails on a
    reused connection is sent once more on a fresh one (writes are idempotent: same series
    and timestamp keep one value), so an idle close never looks like an outage.
    """

    def __init__(self, endpoint: Endpoint, timeout: float) -> None:
        self._endpoint = endpoint
        self._timeout = timeout
        self._conn: http.client.HTTPConnection | None = None
        self._lock = threading.Lock()
        self._closed = False

    def request(
        self, method: str, path: str, body: bytes | None, headers: dict[str, str]
    ) -> tuple[int, http.client.HTTPMessage, bytes]:
        """Status, headers and body of the answer; raises OSError/HTTPException on failure."""
        reused = self._conn is not None
        try:
            return self._once(method, path, body, headers)
        except (OSError, http.client.HTTPException) as e:
            if not reused or self._closed or isinstance(e, TimeoutError):
                raise
        return self._once(method, path, body, headers)

    def _once(
        self, method: str, path: str, body: bytes | None, headers: dict[str, str]
    ) -> tuple[int, http.client.HTTPMessage, bytes]:
        with self._lock:
            if self._closed:
                raise ConnectionAbortedError("output closed")
            if self._conn is None:
                self._conn = self._endpoint.connect(self._timeout)
            conn = self._conn
        try:
            conn.request(method, self._endpoint.path + path, body=body, headers=headers)
            response = conn.getresponse()
            data = response.read()
        except BaseException:
            self._drop()
            raise
        if response.will_close:
            self._drop()
        return response.status, response.headers, data

    def close(self) -> None:
        """Ends the connection for good; from another thread this abandons a request."""
        self._closed = True
        self._drop()

    def _drop(self) -> None:
        with self._lock:
            conn, self._conn = self._conn, None
        if conn is None:
            return
        sock = conn.sock
        if sock is not None:
            # shutdown, unlike close, wakes a recv() blocked in another thread.
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        conn.close()


class LineWriter:
    """POSTs line protocol bodies to one path of a server over one keep-alive connection."""

    def __init__(self, url: str, path: str, headers: dict[str, str], *, gzip: bool,
                 timeout: float) -> None:
        self._connection = Connection(Endpoint.parse(url), timeout)
        self._path = path
        self._headers = {"Content-Type": "text/plain; charset=utf-8", **headers}
        self._gzip = gzip
        if gzip:
            self._headers["Content-Encoding"] = "gzip"

    def write(self, body: bytes) -> WriteResult:
        payload = gzip.compress(body, GZIP_LEVEL) if self._gzip else body
        try:
            status, headers, data = self._connection.request(
                "POST", self._path, payload, self._headers
            )
        except (OSError, http.client.HTTPException) as e:
            return from_exception(e)
        return from_answer(status, server_message(headers, data), headers.get("Retry-After"))

    def close(self) -> None:
        self._connection.close()


class V1Writer(LineWriter):
    """`POST {url}/write?db=&rp=&precision=ns` for one output."""

    def __init__(self, output: InfluxOutput) -> None:
        query = {"db": output.database, "precision": "ns"}
        if output.retention_policy:
            query["rp"] = output.retention_policy
        super().__init__(output.url, "/write?" + urllib.parse.urlencode(query),
                         auth_headers(output), gzip=output.gzip, timeout=float(output.timeout))


def auth_headers(output: InfluxOutput) -> dict[str, str]:
    """Credentials as a header (never in the query string, where proxies log them)."""
    if output.token is not None:
        return {"Authorization": f"Token {output.token.reveal()}"}
    if output.username is not None:
        return basic_auth(output.username, output.password)
    return {}


def basic_auth(username: str, password: Secret | None) -> dict[str, str]:
    """HTTP basic auth as a header."""
    secret = password.reveal() if password is not None else ""
    pair = f"{username}:{secret}".encode()
    return {"Authorization": "Basic " + base64.b64encode(pair).decode("ascii")}


def server_message(headers: http.client.HTTPMessage, data: bytes) -> str:
    """The server's reason: InfluxDB's X-Influxdb-Error, its JSON `error`, or the body text."""
    header = headers.get("X-Influxdb-Error")
    if header:
        return header
    text = data[: MESSAGE_LIMIT * 4].decode("utf-8", "replace").strip()
    try:
        decoded = json.loads(text)
    except ValueError:
        return text[:MESSAGE_LIMIT]
    if isinstance(decoded, dict):
        # 1.x says {"error": ...}; 2.x says {"code": ..., "message": ...}
        for key in ("error", "message"):
            if isinstance(value := decoded.get(key), str):
                return value[:MESSAGE_LIMIT]
    return text[:MESSAGE_LIMIT]
