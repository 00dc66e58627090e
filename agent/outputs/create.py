"""Creating an output's database (v1) or bucket (v2) when the server says it does not exist.

A write answered 404 names a database or bucket the server does not have. Where the output's
credentials allow it (an InfluxDB 1.x admin, or a 2.x token allowed to write buckets), it is
created and the write sent again, as Telegraf does; `create_database: false` turns that off.
Where they do not, the answer says the step an administrator takes by hand
(docs/operations.md#the-database).

    v1:  POST /query  q=CREATE DATABASE "<database>"
    v2:  GET /api/v2/orgs?org=<org>, then POST /api/v2/buckets {"orgID", "name"}
"""

from __future__ import annotations

import http.client
import json
import urllib.parse
from dataclasses import dataclass

from linkwatch.agent.config.schema import InfluxOutput
from linkwatch.agent.outputs.influx_v1 import Connection, Endpoint, auth_headers, server_message


@dataclass(frozen=True)
class Creation:
    """What came of asking the server to create the store."""

    created: bool
    message: str                      # what was created, or why not and the step by hand


def manual_step(output: InfluxOutput, *, v2: bool) -> str:
    """What an administrator runs when linkwatch may not create the store itself."""
    if v2:
        return (f"create the bucket by hand: influx bucket create --name {output.bucket} "
                f"--org {output.org}")
    return (f'create the database by hand: influx -execute \'CREATE DATABASE '
            f'"{_identifier(output.database)}"\' (as an admin user)')


def uses_v2(output: InfluxOutput, version: str | None) -> bool:
    """Whether writes go to a v2 bucket (else to a v1 database)."""
    return output.bucket is not None and (version or output.version) == "2"


def create_store(output: InfluxOutput, version: str | None = None) -> Creation:
    """Create the output's database or bucket; never raises for an answer or a lost
    connection (they become the Creation's message). `version` is the API the writes use,
    when detected ("1" or "2"); else the output's `version`."""
    v2 = uses_v2(output, version)
    connection = Connection(Endpoint.parse(output.url), float(output.timeout))
    try:
        if v2:
            return _create_bucket(output, connection)
        return _create_database(output, connection)
    except (OSError, http.client.HTTPException) as e:
        return Creation(False, f"{type(e).__name__}: {e}; {manual_step(output, v2=v2)}")
    finally:
        connection.close()


def _identifier(name: str) -> str:
    return name.replace("\\", "\\\\").replace('"', '\\"')


def _create_database(output: InfluxOutput, connection: Connection) -> Creation:
    body = urllib.parse.urlencode({"q": f'CREATE DATABASE "{_identifier(output.database)}"'})
    headers = {"Content-Type": "application/x-www-form-urlencoded", **auth_headers(output)}
    status, answer_headers, data = connection.request("POST", "/query", body.encode(), headers)
    error = server_message(answer_headers, data) if status != 200 else _statement_error(data)
    if status == 200 and error is None:
        return Creation(True, f"created database {output.database!r}")
    return Creation(False, f"CREATE DATABASE answered HTTP {status}: {error}; "
                    + manual_step(output, v2=False))


def _statement_error(data: bytes) -> str | None:
    try:
        results = json.loads(data or b"{}").get("results", [])
    except (ValueError, AttributeError):
        return "an answer that is not InfluxQL's JSON"
    errors = [r["error"] for r in results if isinstance(r, dict) and "error" in r]
    return "; ".join(map(str, errors)) or None


def _create_bucket(output: InfluxOutput, connection: Connection) -> Creation:
    headers = {"Content-Type": "application/json", **auth_headers(output)}
    query = urllib.parse.urlencode({"org": output.org or ""})
    status, answer_headers, data = connection.request("GET", f"/api/v2/orgs?{query}", None,
                                                      headers)
    if status != 200:
        return Creation(False, f"looking up org {output.org!r} answered HTTP {status}: "
                        f"{server_message(answer_headers, data)}; "
                        + manual_step(output, v2=True))
    try:
        org_id = json.loads(data)["orgs"][0]["id"]
    except (ValueError, KeyError, IndexError, TypeError):
        return Creation(False, f"no org named {output.org!r} on the server; "
                        + manual_step(output, v2=True))
    body = json.dumps({"orgID": org_id, "name": output.bucket, "retentionRules": []})
    status, answer_headers, data = connection.request("POST", "/api/v2/buckets",
                                                      body.encode(), headers)
    if status in (200, 201):
        return Creation(True, f"created bucket {output.bucket!r} in org {output.org!r}")
    return Creation(False, f"creating the bucket answered HTTP {status}: "
                    f"{server_message(answer_headers, data)}; " + manual_step(output, v2=True))
