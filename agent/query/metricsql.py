"""A small client of the Prometheus query API that victoria-metrics serves (a single node at
`<url>/api/v1/…`, a cluster's vmselect at `<select_url>/select/<tenant>/prometheus/api/v1/…`),
plus the escaping every query must use.

    client = Client(output)
    client.instant('count_over_time(ping_up{site="hq"}[3600000ms])', at_ms)
    client.export(['ping_up{site="hq"}'], start_ms, end_ms)       # raw samples

Every name from the command line enters a query through `quote` (a label value) or
`any_of` (a regular expression of exact values); nothing else builds a string literal.
Queries go as POST forms with `nocache=1` (a backlog replayed into the past must not meet a
cached answer) and `deny_partial_response=1` (a cluster with a vmstorage node down answers
with an error, not with part of the data). At most IN_FLIGHT requests of one client are at
the server at once, however the work is split: victoria-metrics runs 2 × its cores
searches at a time (`-search.maxConcurrentRequests`) and answers 503 to one that waited
10 s for a turn; such a "busy" answer is asked again after a pause, BUSY_RETRIES times.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from linkwatch.agent.config.schema import VictoriaOutput
from linkwatch.agent.query.errors import FailureKind, QueryFailed

T = TypeVar("T")

IN_FLIGHT = 3                    # requests of one client at the server at once
BUSY_RETRIES = 3
BUSY_PAUSE_S = 1.0

# The characters RE2 gives a meaning; a backslash before any of them makes it literal.
_RE2_SPECIAL = frozenset("\\.+*?()|[]{}^$")


def quote(value: str) -> str:
    """A MetricsQL string literal holding exactly `value` (as UTF-8 bytes).

    The server reads it with Go's strconv.Unquote: a backslash and a double quote are
    escaped, every other byte outside printable ASCII is written as \\xHH, so a newline,
    a quote or bytes that are not UTF-8 cannot end the literal or the query."""
    out = []
    for byte in value.encode("utf-8", "surrogateescape"):
        char = chr(byte)
        if char in '"\\':
            out.append("\\" + char)
        elif 0x20 <= byte < 0x7F:
            out.append(char)
        else:
            out.append(f"\\x{byte:02x}")
    return '"' + "".join(out) + '"'


def regex_literal(value: str) -> str:
    """`value` as an RE2 expression that matches exactly it."""
    return "".join("\\" + c if c in _RE2_SPECIAL else c for c in value)


def any_of(values: Iterable[str]) -> str:
    """A string literal for `=~` matching exactly one of `values` (the server anchors it)."""
    return quote("|".join(regex_literal(v) for v in sorted(set(values))))


def matcher(label: str, values: Sequence[str]) -> str:
    """`label="v"` for one value, `label=~"a|b"` for several."""
    if len(values) == 1:
        return f"{label}={quote(values[0])}"
    return f"{label}=~{any_of(values)}"


def selector(metric: str, labels: Mapping[str, str] = {}, extra: Sequence[str] = ()) -> str:
    """`metric{k="v",…}` with exact values, and any `extra` matchers already written."""
    parts = [f"{k}={quote(v)}" for k, v in sorted(labels.items())] + list(extra)
    return metric + "{" + ",".join(parts) + "}"


def duration(ms: int) -> str:
    """A MetricsQL duration in milliseconds: `300000ms`."""
    return f"{int(ms)}ms"


def timestamp(ms: int) -> str:
    """A query time in seconds, exact to the millisecond."""
    return f"{ms // 1000}.{ms % 1000:03d}"


@dataclass(frozen=True)
class Series:
    """One series of an answer: its labels (with `__name__` when the query kept it) and
    its points as (time in ms, value)."""

    labels: dict[str, str]
    points: list[tuple[int, float]]

    @property
    def value(self) -> float:
        """The value of an instant query's single point."""
        return self.points[-1][1]


@dataclass(frozen=True)
class Raw:
    """Raw samples of one series, as /api/v1/export gives them."""

    labels: dict[str, str]
    timestamps: list[int]          # ms
    values: list[float]


class Client:
    """The query API of one victoria-metrics output; requests may run several at once."""

    def __init__(self, output: VictoriaOutput, *, workers: int = 4) -> None:
        from linkwatch.agent.outputs.victoria import auth_headers

        self.output = output
        self.base = output.read_url
        self.workers = workers
        self._headers = {"Accept": "application/json", **auth_headers(output)}
        self._turns = threading.BoundedSemaphore(IN_FLIGHT)

    def instant(self, query: str, at_ms: int) -> list[Series]:
        """The answer of `query` at one instant."""
        return self._series(self._post("/api/v1/query", {"query": query,
                                                         "time": timestamp(at_ms)}))

    def range(self, query: str, start_ms: int, end_ms: int, step_ms: int) -> list[Series]:
        """The answer of `query` at start, start + step, … up to end (points that are NaN
        are left out by the server)."""
        return self._series(self._post("/api/v1/query_range", {
            "query": query, "start": timestamp(start_ms), "end": timestamp(end_ms),
            "step": duration(step_ms)}))

    def export(self, matches: Sequence[str], start_ms: int, end_ms: int) -> list[Raw]:
        """Raw samples of the series matching any of `matches`, start ≤ time ≤ end."""
        body = self._request("/api/v1/export", [("match[]", m) for m in matches] + [
            ("start", timestamp(start_ms)), ("end", timestamp(end_ms))])
        found = []
        for line in body.splitlines():
            if line.strip():
                item = json.loads(line)
                found.append(Raw(item["metric"], [int(t) for t in item["timestamps"]],
                                 [float(v) for v in item["values"]]))
        return found

    def many(self, calls: Sequence[Callable[[], T]]) -> list[T]:
        """The results of independent requests, run several at once, in order."""
        if len(calls) <= 1:
            return [call() for call in calls]
        with ThreadPoolExecutor(min(self.workers, len(calls))) as pool:
            return list(pool.map(lambda call: call(), calls))

    # -- transport ----------------------------------------------------------------------

    def _post(self, path: str, params: Mapping[str, str] | list[tuple[str, str]]
              ) -> dict[str, Any]:
        answer: dict[str, Any] = json.loads(self._request(path, params))
        if answer.get("status") != "success":
            raise QueryFailed("bad_request", f"{self.base}{path}: {answer.get('error')}")
        if answer.get("isPartial"):
            raise QueryFailed("unreachable", f"{self.base}{path} answered with part of the "
                              "data only: a vmstorage node is not answering")
        return answer

    def _request(self, path: str, params: Mapping[str, str] | list[tuple[str, str]]) -> bytes:
        pairs = list(params.items()) if isinstance(params, Mapping) else list(params)
        pairs += [("nocache", "1"), ("deny_partial_response", "1")]
        body = urllib.parse.urlencode(pairs).encode()
        attempt = 0
        while True:
            request = urllib.request.Request(self.base + path, data=body,
                                             headers=self._headers, method="POST")
            try:
                with self._turns, urllib.request.urlopen(
                        request, timeout=float(self.output.timeout)) as r:
                    data: bytes = r.read()
                    return data
            except urllib.error.HTTPError as e:
                text = _error_text(e)
                if e.code in (429, 503) and attempt < BUSY_RETRIES:
                    attempt += 1
                    time.sleep(BUSY_PAUSE_S * attempt)     # the server is busy: wait a turn
                    continue
                raise QueryFailed(_kind_of(e.code), f"{self.base}{path} answered {e.code}: "
                                  f"{text}") from e
            except (urllib.error.URLError, TimeoutError, ConnectionError) as e:
                reason = getattr(e, "reason", e)
                raise QueryFailed("unreachable", f"{self.base}{path}: {reason}") from e

    @staticmethod
    def _series(answer: dict[str, Any]) -> list[Series]:
        data = answer.get("data", {})
        found = []
        for item in data.get("result", []):
            values = item.get("values") or ([item["value"]] if "value" in item else [])
            found.append(Series(item.get("metric", {}),
                                [(round(float(t) * 1000), float(v)) for t, v in values]))
        return found


def _kind_of(status: int) -> FailureKind:
    # 400/422: the server could not run the query; 404: no such path (a wrong url, or a
    # tenant vmauth does not route); anything else: it cannot answer now.
    if status in (400, 422):
        return "bad_request"
    if status == 404:
        return "no_database"
    return "unreachable"


def _error_text(error: urllib.error.HTTPError) -> str:
    try:
        body = error.read()
    except OSError:
        return str(error.reason)
    try:
        return str(json.loads(body).get("error", error.reason))[:500]
    except (ValueError, AttributeError):
        return body.decode("utf-8", "replace").strip()[:500] or str(error.reason)
