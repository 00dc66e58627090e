"""What one write attempt came to, and how an HTTP answer or a transport error is classified.

Classification goes by status code and exception type, never by the text of a message:

    2xx                         ok        the points are stored; remove them from the queue
    400, 413, 422               rejected  something in the batch: split it to find the lines
    408, 429, 5xx, timeouts,    retry     the server or the path is not there right now
    refused/reset connections
    401, 403, 404, other 3xx/4xx fatal    needs an admin (credentials, a missing database);
                                          keep spooling and try again slowly
"""

from __future__ import annotations

import email.utils
import enum
import http.client
import ssl
import time
from dataclasses import dataclass
from typing import Protocol


class Status(enum.StrEnum):
    OK = "ok"
    RETRY = "retry"
    REJECTED = "rejected"
    FATAL = "fatal"


@dataclass(frozen=True)
class WriteResult:
    """The outcome of one write request."""

    status: Status
    http_status: int | None = None    # absent when no answer came (timeout, refused, reset)
    retry_after: float | None = None  # seconds, from the server's Retry-After
    message: str = ""                 # the server's own words, or what went wrong on the way

    @property
    def ok(self) -> bool:
        return self.status is Status.OK


class Writer(Protocol):
    """Sends one body of line protocol (newline-joined lines, ns precision) to one server."""

    def write(self, body: bytes) -> WriteResult: ...

    def close(self) -> None:
        """Releases the connection; safe to call from another thread to abandon a request."""


# 413: the body is too large for the server, and halves of it may pass.
# 422: InfluxDB 2.x refuses points it can parse but not store (e.g. outside the retention).
_REJECTED = frozenset({400, 413, 422})
_RETRY = frozenset({408, 429})
MESSAGE_LIMIT = 500


def status_for(http_status: int) -> Status:
    """The class of an HTTP answer to a write."""
    if 200 <= http_status < 300:
        return Status.OK
    if http_status in _REJECTED:
        return Status.REJECTED
    if http_status in _RETRY or http_status >= 500:
        return Status.RETRY
    return Status.FATAL


def from_answer(
    http_status: int, message: str, retry_after_header: str | None = None
) -> WriteResult:
    """The result of a write that got an HTTP answer."""
    status = status_for(http_status)
    if status is Status.OK:
        return WriteResult(Status.OK, http_status)
    return WriteResult(
        status,
        http_status,
        retry_after=retry_after(retry_after_header),
        message=(message or http.client.responses.get(http_status, ""))[:MESSAGE_LIMIT],
    )


def from_exception(error: BaseException) -> WriteResult:
    """The result of a write that got no HTTP answer."""
    if isinstance(error, ssl.SSLCertVerificationError):
        # The certificate will not verify by itself: an admin has to act.
        return WriteResult(Status.FATAL, message=f"TLS certificate not trusted: {error}")
    if isinstance(error, TimeoutError):
        return WriteResult(Status.RETRY, message=f"no answer in time ({error or 'timed out'})")
    if isinstance(error, (OSError, http.client.HTTPException)):
        # Refused, reset, unreachable, name not resolved, a connection closed mid-answer.
        return WriteResult(Status.RETRY, message=_describe(error))
    raise error


def retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # an HTTP date is always GMT
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _describe(error: BaseException) -> str:
    text = str(error) or "connection closed"
    return f"{type(error).__name__}: {text}"[:MESSAGE_LIMIT]
