"""The latest state of every target: from the agent's own history or from InfluxDB."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import asdict, dataclass, replace

from linkwatch.agent.config.schema import Config
from linkwatch.agent.query.backend import Backend
from linkwatch.agent.query.selection import Selection
from linkwatch.collector import ProbeKind, Sample, StateRule

COLUMNS = ("site", "kind", "target", "address", "state", "since", "loss_pct", "rtt_avg_ms",
           "in_util_pct", "out_util_pct", "path", "last_seen")
# A target whose newest sample is older than this many intervals is UNKNOWN, not UP/DOWN.
STALE_INTERVALS = 2.5
DEFAULT_INTERVAL_S = 60.0     # for a target in the data that the config no longer has


@dataclass(frozen=True)
class TargetStatus:
    site: str
    kind: str
    target: str
    address: str | None
    state: str                 # UP, DOWN, UNREACHABLE or UNKNOWN
    age_s: float | None        # seconds since the newest sample
    loss_pct: float | None
    rtt_avg_ms: float | None
    last_seen: str | None      # ISO 8601, in the config's time zone (as `since`)
    since: str | None = None   # when the state began (ISO 8601); absent: before the period
    in_util_pct: float | None = None   # uplinks: the newest utilisation per direction
    out_util_pct: float | None = None
    path: str | None = None    # a failing ping target: "breaks after hop N (ADDRESS)"


def state_kinds(config: Config) -> dict[str, tuple[ProbeKind, StateRule]]:
    """Measurement → the probe kind whose `up` field it carries, and its rule."""
    return {p.state.measurement: (p, p.state) for p in config.probes if p.state is not None}


def target_status(
    config: Config, latest: Iterable[Sample], now_ns: int, tz: dt.tzinfo | None = None
) -> list[TargetStatus]:
    """One row per configured target (and per target seen in the data but no longer
    configured); times in `tz`, else the config's zone."""
    from linkwatch.agent.query.timerange import iso

    tz = tz or config.tz
    configured = {(c.kind, c.name): c for c in config.checks.with_state()}
    rules = state_kinds(config)
    newest: dict[tuple[str, str], Sample] = {}
    for point in latest:
        probe, rule = rules.get(point.measurement, (None, None))
        if probe is None or rule is None or rule.tag not in point.tags:
            continue
        key = (probe.kind, point.tags[rule.tag])
        if key not in newest or point.time_ns > newest[key].time_ns:
            newest[key] = point
    rows = []
    for key in sorted(set(configured) | set(newest)):
        kind, name = key
        sample, check = newest.get(key), configured.get(key)
        site = check.site if check is not None else config.agent.site
        if sample is None:
            rows.append(TargetStatus(site, kind, name, None, "UNKNOWN", None, None, None, None))
            continue
        site = sample.tags.get("site", site)
        age = (now_ns - sample.time_ns) / 1e9
        interval = check.interval_s if check is not None else DEFAULT_INTERVAL_S
        stale = age > STALE_INTERVALS * interval
        up = sample.fields.get("up")
        state = "UNKNOWN" if stale or up is None else ("UP" if up else "DOWN")
        rows.append(TargetStatus(
            site=site, kind=kind, target=name, address=sample.tags.get("address"), state=state,
            age_s=round(age, 1), loss_pct=_number(sample.fields.get("loss_pct")),
            rtt_avg_ms=_number(sample.fields.get("rtt_avg_ms")),
            last_seen=iso(sample.time_ns, tz),
        ))
    return rows


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def as_rows(statuses: Iterable[TargetStatus]) -> list[dict[str, object]]:
    return [asdict(s) for s in statuses]


def mark_unreachable(rows: list[TargetStatus],
                     parents: dict[str, str | None]) -> list[TargetStatus]:
    """DOWN targets whose site's parent site has targets, all failed, become UNREACHABLE:
    the parent's link is down, so they could not be judged. Applied down the site tree."""
    rows = list(rows)
    changed = True
    while changed:
        changed = False
        failed: dict[str, list[bool]] = {}
        for r in rows:
            failed.setdefault(r.site, []).append(r.state in ("DOWN", "UNREACHABLE"))
        for i, r in enumerate(rows):
            parent = parents.get(r.site)
            if r.state == "DOWN" and parent and failed.get(parent) and all(failed[parent]):
                rows[i] = replace(r, state="UNREACHABLE")
                changed = True
    return rows


def current_status(config: Config, backend: Backend, sel: Selection, now_ns: int,
                   tz: dt.tzinfo | None = None) -> list[TargetStatus]:
    """Every target now, with when its state began (looking back to `sel.since_ns`; in `tz`,
    by default the config's zone) and, for the site uplinks of snmp devices, the newest
    utilisation."""
    from linkwatch.agent.query.states import runs
    from linkwatch.agent.query.timerange import iso

    tz = tz or config.tz
    rules = state_kinds(config)
    latest = [s for m in rules for s in backend.latest(m, sel)]
    rows = [r for r in target_status(config, latest, now_ns, tz)
            if sel.wants(r.site, r.target)]
    history = {}
    for measurement, (probe, rule) in rules.items():
        intervals = {c.name: c.interval_s for c in config.checks.of(probe.kind)}
        for found in backend.up_series(sel, measurement=measurement, tag=rule.tag,
                                       intervals=intervals):
            history[(probe.kind, found.target)] = found
    uplinks = _uplink_utilisation(config, backend.latest("interface", sel))
    breaks = path_breaks(backend.latest("path", sel))
    traced = {p.kind for p in config.probes if "path" in p.measurements}
    dated = []
    for r in rows:
        series = history.get((r.kind, r.target))
        since = None
        if series is not None:
            if r.state == "UNKNOWN":
                since = series.last_ns + series.interval_ns
            else:
                last = runs(series)[-1]
                since = last.start_ns if last.start_ns > series.first_ns else None
        util = uplinks.get((r.kind, r.target), (None, None))
        dated.append(replace(r, since=iso(since, config.tz if tz is None else tz),
                             in_util_pct=util[0],
                             out_util_pct=util[1], path=breaks.get(r.target)
                             if r.kind in traced and r.state != "UP" else None))
    return mark_unreachable(dated, config.parents())


def path_breaks(samples: Iterable[Sample]) -> dict[str, str]:
    """Per traced target, where its newest trace after a failure stopped (`path` points)."""
    from linkwatch.collector.path.fields import describe_break

    newest: dict[str, Sample] = {}
    for s in samples:
        target = s.tags.get("target", "")
        if target not in newest or s.time_ns > newest[target].time_ns:
            newest[target] = s
    breaks = {t: describe_break(s.fields) for t, s in newest.items()
              if s.fields.get("trigger") != "up"}
    return {t: text for t, text in breaks.items() if text}


def _uplink_utilisation(config: Config, samples: Iterable[Sample]
                        ) -> dict[tuple[str, str], tuple[float | None, float | None]]:
    """Per (kind, check) with an uplink, the newest utilisation of each direction."""
    checks = {c.name: c for c in config.checks.all if c.uplink is not None}
    found = {}
    for s in samples:
        check = checks.get(s.tags.get("device", ""))
        if check is not None and check.uplink is not None and check.uplink.matches(s.tags):
            found[(check.kind, check.name)] = (_rounded(s.fields.get("in_util_pct")),
                                               _rounded(s.fields.get("out_util_pct")))
    return found


def _rounded(value: object) -> float | None:
    number = _number(value)
    return None if number is None else round(number, 2)
