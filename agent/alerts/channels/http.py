"""An HTTP(S) POST of JSON for the web channels, with the point of no return marked."""

from __future__ import annotations

import http.client
import json
import ssl
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from linkwatch.agent.alerts.channels import Handed, Undelivered
from linkwatch.agent.alerts.messages import Outgoing
from linkwatch.agent.config.alerting import BotChannel

USER_AGENT = "linkwatch-alerts"


def post_json(url: str, path: str, body: Any, *, timeout: float, handed: Handed,
              ca_file: Path | None = None, headers: dict[str, str] | None = None,
              ) -> tuple[int, bytes]:
    """POST `body` as JSON to `path` under the base `url`; (status, answer)."""
    data = json.dumps(body, ensure_ascii=False).encode("utf-8")
    return request("POST", url, path, data, timeout=timeout, handed=handed, ca_file=ca_file,
                   headers={"Content-Type": "application/json; charset=utf-8",
                            **(headers or {})})


def request(method: str, url: str, path: str, data: bytes | None, *, timeout: float,
            handed: Handed, ca_file: Path | None = None,
            headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    """One request to `path` under the base `url`; (status, answer). `handed()` is called
    once connected (and TLS agreed), just before the request goes.

    Raises Undelivered when the server cannot be reached, does not answer, or answers 429
    or 5xx. Messages name the host, never the path (bot tokens travel in it).
    """
    parts = urlsplit(url)
    host = parts.hostname or ""
    secure = parts.scheme == "https"
    port = parts.port or (443 if secure else 80)
    where = f"{parts.scheme}://{host}:{port}"
    conn: http.client.HTTPConnection
    if secure:
        context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
        conn = http.client.HTTPSConnection(host, port, timeout=timeout, context=context)
    else:
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        try:
            conn.connect()
        except ssl.SSLError as e:
            raise Undelivered(f"{where}: TLS failed: {e.reason or e} (ca_file?)") from e
        except OSError as e:
            raise Undelivered(f"{where}: cannot connect: {e.strerror or e}") from e
        handed()
        try:
            conn.request(method, parts.path.rstrip("/") + path, data,
                         {"User-Agent": USER_AGENT, **(headers or {})})
            response = conn.getresponse()
            answer = response.read()
        except (OSError, http.client.HTTPException) as e:
            raise Undelivered(f"{where}: no answer: {e}") from e
    finally:
        conn.close()
    if response.status == 429 or response.status >= 500:
        retry = response.getheader("Retry-After")
        raise Undelivered(f"{where}: HTTP {response.status}: {_snippet(answer)}",
                          retry_after=float(retry) if retry and retry.isdigit() else None)
    return response.status, answer


def bot_message(channel: BotChannel, message: Outgoing, recipient: str, handed: Handed, *,
                max_text: int) -> None:
    """A Bot API's `POST {url}/bot{token}/sendMessage` with `{"chat_id", "text"}` (Zalo's
    and Telegram's); delivered when the answer is HTTP 200 with `{"ok": true, ...}`."""
    text = message.text if len(message.text) <= max_text else message.text[:max_text - 1] + "…"
    status, answer = post_json(
        channel.url, f"/bot{channel.token.reveal()}/sendMessage",
        {"chat_id": recipient, "text": text}, timeout=float(channel.timeout), handed=handed,
        ca_file=channel.ca_file)
    bot_answer(f"{channel.kind} {channel.name}", status, answer)


def bot_answer(where: str, status: int, answer: bytes) -> None:
    """A Bot API answer (Zalo, Telegram): `{"ok": true, ...}`, else Undelivered."""
    try:
        doc = json.loads(answer)
    except ValueError:
        doc = None
    if status == 200 and isinstance(doc, dict) and doc.get("ok") is True:
        return
    detail = doc.get("description") if isinstance(doc, dict) else None
    code = doc.get("error_code") if isinstance(doc, dict) else None
    raise Undelivered(f"{where}: HTTP {status}: {detail or _snippet(answer)}"
                      + (f" (error_code {code})" if code is not None else ""))


def ok_2xx(where: str, status: int, answer: bytes) -> None:
    if not 200 <= status < 300:
        raise Undelivered(f"{where}: HTTP {status}: {_snippet(answer)}")


def _snippet(answer: bytes) -> str:
    text = answer.decode("utf-8", "replace").strip().replace("\n", " ")
    return text[:200] or "(empty answer)"
