"""A small InfluxQL client over the v1 `/query` endpoint (InfluxDB 1.x, and the
v1-compatible API of 2.x/3.x with a token), plus the escaping every query must use."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

from linkwatch.agent.config.schema import InfluxOutput
from linkwatch.agent.query.errors import FailureKind, QueryFailed


@dataclass(frozen=True)
class Series:
    name: str
    tags: dict[str, str]
    columns: list[str]
    # JSON as the server sent it: per column numbers, strings or null; readers convert
    values: list[list[Any]]

    def rows(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, v, strict=True)) for v in self.values]


def quote_ident(name: str) -> str:
    """An identifier (measurement, tag or field name) safe inside InfluxQL."""
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def quote_string(value: str) -> str:
    """A string literal (a tag value) safe inside InfluxQL."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n") + "'"


def query(output: InfluxOutput, q: str, *, epoch: str = "ns") -> list[list[Series]]:
    """Run `q` (one or more statements); one list of series per statement."""
    params = {"db": output.database, "q": q, "epoch": epoch}
    if output.retention_policy:
        params["rp"] = output.retention_policy
    headers = {"Accept": "application/json"}
    if output.token is not None:
        headers["Authorization"] = f"Token {output.token.reveal()}"
    elif output.username and output.password is not None:
        params["u"] = output.username
        params["p"] = output.password.reveal()
    request = urllib.request.Request(
        output.url.rstrip("/") + "/query",
        data=urllib.parse.urlencode(params).encode(),
        headers=headers,
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=float(output.timeout)) as response:
            body = json.load(response)
    except urllib.error.HTTPError as e:
        text = _error_text(e)
        raise QueryFailed(_kind_of(text),
                          f"{output.shown_url}/query answered {e.code}: {text}") from e
    except (urllib.error.URLError, TimeoutError, ConnectionError) as e:
        reason = getattr(e, "reason", e)
        raise QueryFailed("unreachable", f"{output.shown_url}/query: {reason}") from e
    results = []
    for result in body.get("results", []):
        if "error" in result:
            raise QueryFailed(_kind_of(result["error"]),
                              f"{output.shown_url}/query: {result['error']}")
        results.append([
            Series(s.get("name", ""), s.get("tags", {}), s["columns"], s.get("values", []))
            for s in result.get("series", [])
        ])
    return results


def _kind_of(error: str) -> FailureKind:
    # InfluxDB 1.x tells a missing database only in its error text ("database not found:
    # x"); that is its protocol, read here once so no caller reads message text.
    return "no_database" if error.startswith("database not found") else "bad_request"


def _error_text(error: urllib.error.HTTPError) -> str:
    try:
        return str(json.loads(error.read()).get("error", error.reason))
    except (ValueError, AttributeError):
        return str(error.reason)
