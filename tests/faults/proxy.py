"""A test-owned HTTP proxy on 127.0.0.1 in front of influxd that misbehaves on purpose.

Each write request (POST /write) gets the answer its `plan` names for it:

    pass          forwarded to influxd, its answer relayed
    500           HTTP 500, nothing written
    503           HTTP 503 with Retry-After: 1, nothing written
    429           HTTP 429 (too many requests), nothing written
    slow          held past the client's timeout, then forwarded (the write lands late)
    reset         connection reset (RST) before anything is written
    lost_answer   forwarded and written, then reset before the answer: the client must
                  resend points the server already has
    down          (while `down` is set) every connection is reset at once: the link is cut

Other requests (/ping, /query) are always forwarded.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import struct
import threading
import time
from collections import Counter
from collections.abc import Callable

MODES = ("pass", "500", "503", "429", "slow", "reset", "lost_answer")


class FaultProxy:
    def __init__(self, upstream_port: int, plan: Callable[[int], str] = lambda n: "pass",
                 *, slow_s: float = 2.5) -> None:
        self.upstream_port = upstream_port
        self.plan = plan
        self.slow_s = slow_s
        self.down = False
        self.injected: Counter[str] = Counter()
        self.writes = 0
        self._lock = threading.Lock()
        self._sock = socket.socket()
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(64)
        self.port = self._sock.getsockname()[1]
        self._closed = False
        threading.Thread(target=self._accept, daemon=True, name="fault-proxy").start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        self._closed = True
        with contextlib.suppress(OSError):
            self._sock.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            if self.down:
                self.injected["down"] += 1
                _reset(conn)
                continue
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        reader = conn.makefile("rb")
        try:
            while not self._closed:
                try:
                    request = _read_request(reader)
                except (OSError, ValueError):   # the client went away mid-request
                    return
                if request is None:
                    return
                method, path, headers, body = request
                if self.down:
                    self.injected["down"] += 1
                    _reset(conn)
                    return
                mode = "pass"
                if path.startswith("/write"):
                    with self._lock:
                        mode = self.plan(self.writes)
                        self.writes += 1
                        self.injected[mode] += 1
                if mode in ("500", "503", "429"):
                    extra = {"Retry-After": "1"} if mode == "503" else {}
                    _answer(conn, int(mode), b'{"error":"injected by the test proxy"}', extra)
                    continue
                if mode == "reset":
                    _reset(conn)
                    return
                if mode == "slow":
                    time.sleep(self.slow_s)
                status, answer_headers, data = self._forward(method, path, headers, body)
                if mode == "lost_answer":
                    _reset(conn)
                    return
                try:
                    _answer(conn, status, data, answer_headers)
                except OSError:
                    return
        finally:
            with contextlib.suppress(OSError):
                reader.close()
                conn.close()

    def _forward(self, method: str, path: str, headers: dict[str, str],
                 body: bytes) -> tuple[int, dict[str, str], bytes]:
        upstream = http.client.HTTPConnection("127.0.0.1", self.upstream_port, timeout=60)
        try:
            keep = {k: v for k, v in headers.items()
                    if k.lower() not in ("connection", "host", "content-length")}
            upstream.request(method, path, body=body, headers=keep)
            response = upstream.getresponse()
            data = response.read()
            relay = {k: v for k, v in response.getheaders()
                     if k.lower() in ("content-type", "x-influxdb-error", "x-influxdb-version",
                                      "retry-after")}
            return response.status, relay, data
        except OSError as e:
            return 502, {}, f'{{"error":"proxy: {e}"}}'.encode()
        finally:
            upstream.close()


def _read_request(reader) -> tuple[str, str, dict[str, str], bytes] | None:
    line = reader.readline()
    if not line:
        return None
    method, path, _ = line.decode("latin-1").split(" ", 2)
    headers: dict[str, str] = {}
    while (line := reader.readline()) not in (b"\r\n", b"\n", b""):
        key, _, value = line.decode("latin-1").partition(":")
        headers[key.strip()] = value.strip()
    length = int(headers.get("Content-Length", "0"))
    body = reader.read(length) if length else b""
    return method, path, headers, body


def _answer(conn: socket.socket, status: int, body: bytes, headers: dict[str, str]) -> None:
    reason = http.client.responses.get(status, "")
    head = [f"HTTP/1.1 {status} {reason}", f"Content-Length: {len(body)}",
            "Connection: keep-alive", *(f"{k}: {v}" for k, v in headers.items())]
    conn.sendall(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)


def _reset(conn: socket.socket) -> None:
    """Close with RST (SO_LINGER 0), as a crashed server or a middlebox does."""
    with contextlib.suppress(OSError):
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        conn.close()
