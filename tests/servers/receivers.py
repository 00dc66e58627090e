"""HTTP(S) servers on private loopback ports that receive what the alert channels post.

`BotApi` is a loopback implementation of the documented protocol of the Zalo Bot Platform
(https://bot.zaloplatforms.com/docs: `POST /bot{TOKEN}/sendMessage` with a JSON body
`{"chat_id", "text"}`, 1 to 2000 characters, answered `{"ok": true, "result":
{"message_id", "date"}}`, or `{"ok": false, "error_code", "description"}`), which Telegram's
Bot API shares; no Zalo or Telegram server can be reached from a test. `JsonReceiver` takes
any JSON POST (webhook, Alertmanager-shaped), and can be told to fail or to hang.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.servers.certificates import Certificates


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    body: Any                  # the parsed JSON


class _Server:
    """A threading HTTP(S) server on 127.0.0.1 whose handler is `self.answer`."""

    def __init__(self, certificates: Certificates | None = None) -> None:
        self.requests: list[Request] = []
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = None
                request = Request(self.path, dict(self.headers), body)
                status, answer = outer.answer(request)
                if status == 0:          # hang: never answer
                    time.sleep(3600)
                    return
                with outer.lock:
                    outer.requests.append(request)
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        if certificates is not None:
            self.httpd.socket = certificates.server_context().wrap_socket(
                self.httpd.socket, server_side=True)
        self.scheme = "https" if certificates is not None else "http"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def port(self) -> int:
        return self.httpd.server_address[1]

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def answer(self, request: Request) -> tuple[int, Any]:
        raise NotImplementedError

    def received(self) -> list[Request]:
        with self.lock:
            return list(self.requests)

    def wait_for(self, done: Callable[[list[Request]], bool], timeout: float,
                 what: str) -> list[Request]:
        deadline = time.monotonic() + timeout
        while True:
            found = self.received()
            if done(found):
                return found
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout:g}s waiting for {what}; "
                                     f"received {[r.body for r in found]}")
            time.sleep(0.1)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class BotApi(_Server):
    """The Bot API's sendMessage for one bot token (see the module's docstring)."""

    def __init__(self, token: str, certificates: Certificates | None = None) -> None:
        self.token = token
        self.messages = 0
        super().__init__(certificates)

    def answer(self, request: Request) -> tuple[int, Any]:
        if request.path != f"/bot{self.token}/sendMessage":
            return 404, {"ok": False, "error_code": 404, "description": "Not Found"}
        body = request.body
        if not isinstance(body, dict) or not isinstance(body.get("chat_id"), str) \
                or not isinstance(body.get("text"), str) or not 1 <= len(body["text"]) <= 2000:
            return 400, {"ok": False, "error_code": 400, "description": "Bad Request"}
        self.messages += 1
        return 200, {"ok": True, "result": {"message_id": f"m{self.messages}",
                                            "date": int(time.time() * 1000)}}


class JsonReceiver(_Server):
    """Any JSON POST; `mode` "ok" answers 200, "fail" 500, "hang" never (set it any time)."""

    def __init__(self, mode: str = "ok", certificates: Certificates | None = None) -> None:
        self.mode = mode
        super().__init__(certificates)

    def answer(self, request: Request) -> tuple[int, Any]:
        return {"ok": (200, {"status": "success"}), "fail": (500, {"error": "down"}),
                "hang": (0, None)}[self.mode]
