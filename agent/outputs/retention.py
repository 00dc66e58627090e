"""How long a store keeps points, read from the server, so a backlog older than that is
reported before it is sent into loss.

victoria-metrics accepts a write of points older than its `-retentionPeriod` (or more than
two days ahead of its clock) with 204 and drops them, saying so only in its own log; InfluxDB
1.x refuses them with 400 "points beyond retention policy dropped" (they end as dead
letters). Where the retention can be read:

    victoria-metrics single node   its /metrics: flag{name="retentionPeriod"} (a bare number
                                   is months of 31 days; h, d, w, y suffixes), and whether
                                   -dedup.minScrapeInterval is set (without it a point resent
                                   after a crash is stored, and counted, twice)
    InfluxDB 1.x                   SHOW RETENTION POLICIES: the output's retention_policy,
                                   else the database's default (0s: forever)

A cluster's vminsert and vmselect do not expose vmstorage's flags, nor does a proxy
(vmauth) in front of a single node: there the rule of docs/scale.md#retention is to be kept
by hand, and the check says so.
"""

from __future__ import annotations

import http.client
import json
import re
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass

from linkwatch.agent.config.schema import InfluxOutput, Output, VictoriaOutput
from linkwatch.agent.outputs.influx_v1 import Connection, Endpoint
from linkwatch.agent.outputs.influx_v1 import auth_headers as influx_auth
from linkwatch.agent.outputs.victoria import auth_headers as victoria_auth
from linkwatch.agent.text import log_duration

TIMEOUT_S = 3.0
CHECK_AFTER_S = 3600.0          # a backlog younger than this is within any retention
_MONTH_S = 31 * 86400
_UNIT_S = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400,
           "y": 365 * 86400}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)")
_FLAG = re.compile(r'^flag\{name="(?P<name>[^"]+)", value="(?P<value>[^"]*)"')


class LimitsUnknown(Exception):
    """The server's retention could not be read; the message says why."""


@dataclass(frozen=True)
class Limits:
    """What a store keeps, as its server reports it."""

    retention_s: float | None       # None: keeps points of any age
    described: str                  # where it was read: "-retentionPeriod=7d"
    silent: bool                    # drops old points with a 2xx (victoria-metrics)
    dedup: bool = True              # one point per series and time (victoria-metrics flag)


def read_limits(output: Output, timeout: float = TIMEOUT_S) -> Limits:
    """The output's server's retention. Raises LimitsUnknown when it cannot be read."""
    try:
        if isinstance(output, VictoriaOutput):
            return _victoria(output, timeout)
        return _influx(output, timeout)
    except (OSError, http.client.HTTPException, ValueError, KeyError) as e:
        raise LimitsUnknown(f"{type(e).__name__}: {e}") from e


def _victoria(output: VictoriaOutput, timeout: float) -> Limits:
    if output.url is None:
        raise LimitsUnknown("a cluster's vminsert and vmselect do not show vmstorage's "
                            "-retentionPeriod")
    status, body = _get(output.url, "/metrics", victoria_auth(output), timeout)
    if status != 200:
        raise LimitsUnknown(f"{output.url}/metrics answered {status}")
    flags = {}
    for line in body.decode("utf-8", "replace").splitlines():
        match = _FLAG.match(line)
        if match:
            flags[match["name"]] = match["value"]
    if "retentionPeriod" not in flags:
        raise LimitsUnknown(f"{output.url}/metrics shows no retentionPeriod flag (a proxy "
                            "in front of victoria-metrics?)")
    value = flags["retentionPeriod"]
    dedup = flags.get("dedup.minScrapeInterval", "0s")
    return Limits(victoria_retention_s(value), f"-retentionPeriod={value}", silent=True,
                  dedup=_seconds(dedup) > 0)


def _influx(output: InfluxOutput, timeout: float) -> Limits:
    if output.bucket is not None and output.version != "1":
        raise LimitsUnknown("a v2 bucket's retention is not read (InfluxDB 2.x keeps it "
                            "with the bucket)")
    statement = f'SHOW RETENTION POLICIES ON "{_ident(output.database)}"'
    query = urllib.parse.urlencode({"q": statement})
    status, body = _get(output.url, f"/query?{query}", influx_auth(output), timeout)
    if status != 200:
        raise LimitsUnknown(f"{output.url}/query answered {status}: "
                            f"{body[:200].decode('utf-8', 'replace')}")
    results = json.loads(body).get("results", [{}])
    if "error" in results[0]:
        raise LimitsUnknown(f"{output.url}/query: {results[0]['error']}")
    for series in results[0].get("series", []):
        columns = series["columns"]
        for row in series.get("values", []):
            policy = dict(zip(columns, row, strict=True))
            wanted = (policy["name"] == output.retention_policy if output.retention_policy
                      else policy.get("default"))
            if wanted:
                seconds = _seconds(str(policy["duration"]))
                return Limits(seconds or None, f"retention policy {policy['name']} "
                              f"({policy['duration']})", silent=False)
    raise LimitsUnknown(f"database {output.database} has no retention policy "
                        f"{output.retention_policy or '(default)'}")


def victoria_retention_s(value: str) -> float:
    """-retentionPeriod in seconds: a bare number is months of 31 days, else a duration
    such as 7d, 2w, 1y or 12h."""
    try:
        return float(value) * _MONTH_S
    except ValueError:
        return _seconds(value)


def _seconds(text: str) -> float:
    """`168h0m0s`, `7d`, `1w2d`, `100ms` in seconds."""
    text = text.strip().lower()
    parts = _PART.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"not a duration: {text!r}")
    return sum(float(n) * _UNIT_S[u] for n, u in parts)


def _ident(name: str) -> str:
    return name.replace("\\", "\\\\").replace('"', '\\"')


def _get(url: str, path: str, headers: dict[str, str], timeout: float) -> tuple[int, bytes]:
    connection = Connection(Endpoint.parse(url), timeout)
    try:
        status, _headers, body = connection.request("GET", path, None, headers)
    finally:
        connection.close()
    return status, body


def backlog_warning(output: Output, limits: Limits, at_risk: int, oldest_age_s: float,
                    history_s: float) -> str | None:
    """What to tell the admin when `at_risk` queued points are older than the server keeps
    (None when none is)."""
    if limits.retention_s is None or at_risk == 0:
        return None
    fate = ("victoria-metrics accepts them with 204 and drops them without an error"
            if limits.silent else
            "the server refuses them (400) and they end as dead letters")
    return (f"output {output.queue_name}: {at_risk} queued points are older than the "
            f"server keeps ({limits.described}, {log_duration(limits.retention_s)}; the oldest "
            f"is {log_duration(oldest_age_s)} old): {fate}. This agent's local history keeps "
            f"them for {log_duration(history_s)} (agent.spool.history). Make the retention "
            "longer than the longest time a site may stay cut off (docs/scale.md#retention)")


def dedup_warning(output: Output, limits: Limits) -> str | None:
    if limits.dedup:
        return None
    return (f"output {output.queue_name}: victoria-metrics runs without "
            "-dedup.minScrapeInterval: a point resent after a crash is stored twice and "
            "counted twice by every query; start it with -dedup.minScrapeInterval=1ms "
            "(docs/scale.md#dedup)")


def backlog_notes(output: Output, oldest_unsent_ns: int | None,
                  queued_before: Callable[[int], int], history_s: float, now_ns: int,
                  *, limits: Limits | None = None) -> list[str]:
    """The warnings about one output's backlog for `linkwatch spool status`: the server is
    asked only when the oldest unsent point is over an hour old (no server keeps less)."""
    if oldest_unsent_ns is None or now_ns - oldest_unsent_ns < CHECK_AFTER_S * 1e9:
        return []
    if limits is None:
        try:
            limits = read_limits(output)
        except LimitsUnknown as e:
            age = log_duration((now_ns - oldest_unsent_ns) / 1e9)
            return [f"output {output.queue_name}: the backlog is {age} old and the server's "
                    f"retention could not be read ({e}); make sure it is longer "
                    "(docs/scale.md#retention)"]
    notes = []
    if limits.retention_s is not None:
        at_risk = queued_before(now_ns - int(limits.retention_s * 1e9))
        note = backlog_warning(output, limits, at_risk, (now_ns - oldest_unsent_ns) / 1e9,
                               history_s)
        if note:
            notes.append(note)
    return notes
