"""How answers and errors of a write are classified, and how long a shipper waits."""

from __future__ import annotations

import http.client
import socket
import ssl

import pytest

from linkwatch.agent.outputs.backoff import Backoff
from linkwatch.agent.outputs.result import Status, from_answer, from_exception, retry_after
from linkwatch.agent.outputs.version import version_from_header


@pytest.mark.parametrize(("code", "status"), [
    (200, Status.OK), (204, Status.OK),
    (400, Status.REJECTED), (413, Status.REJECTED), (422, Status.REJECTED),
    (408, Status.RETRY), (429, Status.RETRY), (500, Status.RETRY), (502, Status.RETRY),
    (503, Status.RETRY), (504, Status.RETRY),
    (401, Status.FATAL), (403, Status.FATAL), (404, Status.FATAL), (301, Status.FATAL),
])
def test_http_answers(code, status):
    assert from_answer(code, "").status is status


@pytest.mark.parametrize(("error", "status"), [
    (TimeoutError("timed out"), Status.RETRY),
    (TimeoutError(), Status.RETRY),
    (ConnectionRefusedError(111, "Connection refused"), Status.RETRY),
    (ConnectionResetError(104, "Connection reset by peer"), Status.RETRY),
    (http.client.RemoteDisconnected("Remote end closed connection"), Status.RETRY),
    (http.client.IncompleteRead(b"partial"), Status.RETRY),
    (socket.gaierror(-2, "Name or service not known"), Status.RETRY),
    (ssl.SSLCertVerificationError(1, "certificate verify failed"), Status.FATAL),
])
def test_errors_without_an_answer(error, status):
    result = from_exception(error)
    assert result.status is status
    assert result.http_status is None
    assert result.message


def test_an_unexpected_exception_is_not_swallowed():
    with pytest.raises(KeyError):
        from_exception(KeyError("bug"))


def test_the_servers_message_and_retry_after_are_kept():
    result = from_answer(503, "shutting down", "7")
    assert (result.status, result.http_status, result.retry_after, result.message) == (
        Status.RETRY, 503, 7.0, "shutting down")
    assert from_answer(500, "").message == "Internal Server Error"


def test_retry_after_as_seconds_or_http_date():
    now = 1_700_000_000.0  # Tue, 14 Nov 2023 22:13:20 GMT
    assert retry_after("120", now=now) == 120.0
    assert retry_after("Tue, 14 Nov 2023 22:14:20 GMT", now=now) == 60.0
    assert retry_after("Tue, 14 Nov 2023 22:00:00 GMT", now=now) == 0.0
    assert retry_after("soon", now=now) is None
    assert retry_after(None) is None


def test_backoff_grows_with_full_jitter_up_to_the_cap_and_honours_retry_after():
    backoff = Backoff(base=1.0, cap=300.0, random=lambda: 1.0)
    assert [backoff.next_wait() for _ in range(11)] == [
        1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300]
    assert backoff.next_wait(retry_after=42) == 42
    assert backoff.next_wait(retry_after=3600) == 300
    backoff.reset()
    assert backoff.next_wait() == 1
    assert Backoff(base=1.0, random=lambda: 0.25).next_wait(floor=60) == 60
    assert Backoff(base=4.0, random=lambda: 0.5).next_wait() == 2.0


@pytest.mark.parametrize(("header", "version"), [
    ("1.6.7~rc0", "1"), ("1.8.10", "1"), ("v2.7.4", "2"), ("2.0.0-beta", "2"),
    ("3.0.1", "2"), (None, "1"), ("", "1"), ("unknown", "1"),
])
def test_version_from_ping_header(header, version):
    assert version_from_header(header) == version
