"""The latest state of every target: from the agent's own history or from InfluxDB."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import asdict, dataclass

from agent.checks import configured
from agent.config.schema import Config
from collector import Sample

COLUMNS = ("site", "kind", "target", "address", "state", "age_s", "loss_pct", "rtt_avg_ms",
           "last_seen")
# Measurements whose `up` field says whether a target answered, and the tag naming it.
TARGET_MEASUREMENTS = {"ping": "target", "device": "device"}
KIND_OF = {"ping": "ping", "device": "snmp"}
# A target whose newest sample is older than this many intervals is UNKNOWN, not UP/DOWN.
STALE_INTERVALS = 2.5


@dataclass(frozen=True)
class TargetStatus:
    site: str
    kind: str
    target: str
    address: str | None
    state: str                 # UP, DOWN or UNKNOWN
    age_s: float | None        # seconds since the newest sample
    loss_pct: float | None
    rtt_avg_ms: float | None
    last_seen: str | None      # ISO 8601, UTC


def target_status(
    config: Config, latest: Iterable[Sample], now_ns: int
) -> list[TargetStatus]:
    """One row per configured target (and per target seen in the data but no longer configured)."""
    intervals: dict[tuple[str, str], float] = {}
    for kind, checks in configured(config).items():
        for check in checks:
            if kind in KIND_OF.values():
                intervals[(kind, check.name)] = float(check.interval)
    newest: dict[tuple[str, str], Sample] = {}
    for sample in latest:
        tag = TARGET_MEASUREMENTS.get(sample.measurement)
        if tag is None or tag not in sample.tags:
            continue
        key = (KIND_OF[sample.measurement], sample.tags[tag])
        if key not in newest or sample.time_ns > newest[key].time_ns:
            newest[key] = sample
    rows = []
    for key in sorted(set(intervals) | set(newest)):
        kind, name = key
        sample = newest.get(key)
        site = _site_of(config, kind, name) if sample is None else sample.tags.get("site", "")
        if sample is None:
            rows.append(TargetStatus(site, kind, name, None, "UNKNOWN", None, None, None, None))
            continue
        age = (now_ns - sample.time_ns) / 1e9
        stale = age > STALE_INTERVALS * intervals.get(key, 60.0)
        up = sample.fields.get("up")
        state = "UNKNOWN" if stale or up is None else ("UP" if up else "DOWN")
        rows.append(TargetStatus(
            site=site, kind=kind, target=name, address=sample.tags.get("address"), state=state,
            age_s=round(age, 1), loss_pct=_number(sample.fields.get("loss_pct")),
            rtt_avg_ms=_number(sample.fields.get("rtt_avg_ms")),
            last_seen=dt.datetime.fromtimestamp(sample.time_ns / 1e9, dt.UTC).isoformat(
                timespec="seconds"),
        ))
    return rows


def _site_of(config: Config, kind: str, name: str) -> str:
    for check in configured(config).get(kind, ()):
        if check.name == name:
            return check.site or config.agent.site
    return config.agent.site


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def as_rows(statuses: Iterable[TargetStatus]) -> list[dict[str, object]]:
    return [asdict(s) for s in statuses]


def latest_from_influx(config: Config) -> list[Sample]:
    """The newest point of every ping and device series in the first output's database."""
    from agent.query.influxql import query, quote_ident

    output = config.outputs[0]
    statements = ";".join(
        f"SELECT * FROM {quote_ident(m)} WHERE time > now() - 7d GROUP BY * "
        "ORDER BY time DESC LIMIT 1"
        for m in TARGET_MEASUREMENTS
    )
    samples = []
    for measurement, result in zip(TARGET_MEASUREMENTS, query(output, statements), strict=True):
        for series in result:
            for row in series.rows():
                time_ns = int(row.pop("time"))
                fields = {k: v for k, v in row.items() if v is not None}
                samples.append(Sample(measurement, series.tags, fields, time_ns))
    return samples
