"""The answer of each query verb as plain rows: what the CLI prints, callable without it.

    backend = open_backend(config, local=True)           # agent.query.backend
    rows = uptime(config, backend, selection)            # list of flat dicts

Each function takes the config (for sites, parents, intervals and capacities), a Backend
and a Selection.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from linkwatch.agent.config.maintenance import windows_for
from linkwatch.agent.config.schema import Check, Config
from linkwatch.agent.query import availability, bandwidth, causes, power, radio
from linkwatch.agent.query.backend import Backend
from linkwatch.agent.query.bandwidth import WINDOW_S, Bandwidth
from linkwatch.agent.query.selection import Selection
from linkwatch.agent.query.states import UpSeries
from linkwatch.agent.query.timerange import iso
from linkwatch.collector.kind import StateRule
from linkwatch.collector.sample import Sample

UPTIME_COLUMNS = ("site", "target", "availability_pct", "coverage_pct", "downtime_s",
                  "outages", "flaps", "mttr_s", "mtbf_s", "maintenance_s")
OUTAGE_COLUMNS = ("site", "target", "start", "end", "duration_s", "cause", "ended_by",
                  "charged_to", "path")
LATENCY_COLUMNS = ("site", "target", "rtt_median_ms", "rtt_p95_ms", "loss_pct", "jitter_ms",
                   "samples")
BANDWIDTH_COLUMNS = ("site", "device", "if_name", "direction", "mean_bps", "p95_bps",
                     "max_bps", "capacity_bps", "util_p95_pct", "minutes_above_70",
                     "minutes_above_80", "coverage_pct", "insufficient")
TOP_COLUMNS = ("rank", "kind", "site", "name", "value", "measure", "coverage_pct")
RADIO_COLUMNS = radio.COLUMNS
POWER_COLUMNS = power.COLUMNS


def link_checks(config: Config) -> tuple[Check, ...]:
    """The checks whose targets stand for links: what availability is computed over."""
    return tuple(c for c in config.checks.all if c.probe.state and c.probe.state.links)


def link_rules(config: Config) -> list[StateRule]:
    """The state rules of every kind whose targets stand for links (read even when the
    config no longer has such checks: the data may)."""
    return [p.state for p in config.probes if p.state is not None and p.state.links]


def intervals(checks: Sequence[Check]) -> dict[str, float]:
    return {c.name: c.interval_s for c in checks}


def fetch_scope(config: Config, sel: Selection) -> Selection:
    """The selection widened to the parents of the chosen sites (whose downtime makes a
    target UNREACHABLE), with the target filter applied only after the analysis."""
    if not sel.sites and not sel.targets:
        return sel
    sites = set(sel.sites)
    by_name = {c.name: c.site for c in link_checks(config)}
    for target in sel.targets:
        if target not in by_name:
            return Selection(sel.since_ns, sel.until_ns)   # unknown to the config: all
        sites.add(by_name[target])
    tree = config.parents()
    for site in list(sites):
        if parent := tree.get(site):
            sites.add(parent)
    return Selection(sel.since_ns, sel.until_ns, tuple(sorted(sites)))


def link_series(config: Config, backend: Backend, scope: Selection) -> list[UpSeries]:
    """The up/down series of every link target in `scope` (a fetch scope: fetch_scope)."""
    known = intervals(link_checks(config))
    series = []
    for rule in link_rules(config):
        series += backend.up_series(scope, measurement=rule.measurement, tag=rule.tag,
                                    intervals=known)
    return series


def analysis(config: Config, backend: Backend, sel: Selection, *,
             min_cycles: int = availability.MIN_CYCLES,
             series: list[UpSeries] | None = None) -> availability.Report:
    """Uptime and outages of the link targets `sel` wants; `series`: link_series() of the
    fetch scope, when the caller has it already."""
    if series is None:
        series = link_series(config, backend, fetch_scope(config, sel))
    report = availability.analyse(series, parents=config.parents(),
                                  period_ns=(sel.since_ns, sel.until_ns), min_cycles=min_cycles,
                                  maintenance=maintenance_of(config, sel))
    targets = [u for u in report.targets if sel.wants(u.site, u.target)]
    return availability.Report(
        targets=targets,
        sites=availability.roll_up(targets),
        outages=[o for o in report.outages if sel.wants(o.site, o.target)],
    )


def maintenance_of(config: Config, sel: Selection) -> availability.Maintenance | None:
    """Each target's maintenance windows within the selection's period (config
    `maintenance:`), in the config's time zone; None when none is declared."""
    if not config.maintenance:
        return None
    windows = config.maintenance

    def of(site: str, target: str) -> list[tuple[int, int]]:
        return windows_for(windows, site, target, sel.since_ns, sel.until_ns, config.tz)

    return of


def uptime(config: Config, backend: Backend, sel: Selection, *,
           min_cycles: int = availability.MIN_CYCLES) -> list[dict[str, object]]:
    """Per target, then one roll-up row per site (target null)."""
    report = analysis(config, backend, sel, min_cycles=min_cycles)
    rows: list[dict[str, object]] = []
    for site in report.sites:
        rows.extend(t.row() for t in report.targets if t.site == site.site)
        rows.append(site.row())
    return rows


def outages(config: Config, backend: Backend, sel: Selection, *,
            min_cycles: int = availability.MIN_CYCLES,
            tz: dt.tzinfo | None = None) -> list[dict[str, object]]:
    """Every outage of the period with its cause; times in `tz`, by default the config's
    zone (never the zone of the machine that asks)."""
    tz = config.tz if tz is None else tz
    scope = fetch_scope(config, sel)
    series = link_series(config, backend, scope)
    report = analysis(config, backend, sel, min_cycles=min_cycles, series=series)
    traces = backend.points("path", sel) if report.outages else []
    found = power_and_radio(config, backend, scope, series) if report.outages else None
    rows: list[dict[str, object]] = []
    for o in report.outages:
        cause = found.cause(o, config) if found else causes.Cause("link")
        rows.append({
            "site": o.site, "target": o.target, "start": iso(o.start_ns, tz),
            "end": iso(o.end_ns, tz) if o.end_ns is not None else None,
            "duration_s": round(o.duration_s, 3), "cause": cause.cause,
            "evidence": "; ".join(e.text(tz) for e in cause.evidence) or None,
            "ended_by": o.ended_by,
            "charged_to_parent": o.charged_to is not None, "charged_to": o.charged_to,
            "parent_down_s": round(o.parent_down_s, 3), "cycles": o.cycles,
            "path": _break_during(traces, o.target, o.start_ns, o.end_ns),
        })
    return rows


@dataclass(frozen=True)
class PowerAndRadio:
    """What the sites' UPSs and radios said over a fetch scope: the evidence for causes."""

    power: dict[str, power.SitePower]
    radio: list[radio.RadioLink]

    def cause(self, outage: availability.Outage, config: Config) -> causes.Cause:
        return causes.attribute(outage, parents=config.parents(), power=self.power,
                                radio=self.radio)


def power_and_radio(config: Config, backend: Backend, scope: Selection,
                    links: list[UpSeries]) -> PowerAndRadio:
    """The sites' power runs and radio links over `scope`, the radio windows from 15
    minutes earlier (a fade just before the first outage of the period counts).
    `links`: link_series() of the same scope (who else at a site stopped answering)."""
    devices = _device_intervals(config)
    battery = backend.up_series(scope, measurement=power.MEASUREMENT, tag="device",
                                intervals=devices, field=power.ON_BATTERY)
    sites = {}
    if battery:
        rule = _device_rule(config)
        status = backend.up_series(scope, measurement=rule.measurement, tag=rule.tag,
                                   intervals=devices)
        charge = backend.windows(power.MEASUREMENT, (power.CHARGE,), scope, window_s=WINDOW_S)
        sites = power.site_power(battery, status, links, charge)
    early = Selection(scope.since_ns - causes.LOOKBACK_S * 10**9, scope.until_ns, scope.sites)
    windows = backend.windows(radio.MEASUREMENT, radio.FIELDS, early, window_s=WINDOW_S)
    return PowerAndRadio(sites, radio.links(config, windows, early))


def _device_intervals(config: Config) -> dict[str, float]:
    return {c.name: c.interval_s for c in config.checks.with_state()
            if c.probe.state is not None and not c.probe.state.links}


def _device_rule(config: Config) -> StateRule:
    """How SNMP devices go up and down (the `device` measurement): the first kind whose
    targets are devices, not links."""
    return next((p.state for p in config.probes if p.state is not None and not p.state.links),
                StateRule("device", "device"))


def radio_rows(config: Config, backend: Backend, sel: Selection) -> list[dict[str, object]]:
    """Per radio link: signal, noise, CCQ and rates (median, p5, worst), minutes degraded."""
    windows = backend.windows(radio.MEASUREMENT, radio.FIELDS, sel, window_s=WINDOW_S)
    return [link.row() for link in radio.links(config, windows, sel)]


def power_rows(config: Config, backend: Backend, sel: Selection) -> list[dict[str, object]]:
    """Per site with a UPS: minutes on battery, power events, longest run, lowest charge."""
    scope = fetch_scope(config, Selection(sel.since_ns, sel.until_ns, sel.sites))
    found = power_and_radio(config, backend, scope, link_series(config, backend, scope))
    wanted = {site: p for site, p in found.power.items() if sel.wants(site)}
    if sel.targets:
        wanted = {site: p.only(sel.targets) for site, p in wanted.items()
                  if set(p.devices) & set(sel.targets)}
    return power.rows(wanted)


def _break_during(traces: Sequence[Sample], target: str, start_ns: int,
                  end_ns: int | None) -> str | None:
    """Where the first trace taken during an outage stopped: "breaks after hop 2 (…)"."""
    from linkwatch.collector.path.fields import describe_break

    for trace in traces:  # oldest first
        if (trace.tags.get("target") == target and trace.fields.get("trigger") != "up"
                and start_ns <= trace.time_ns and (end_ns is None or trace.time_ns < end_ns)):
            return describe_break(trace.fields) or None
    return None


def latency(config: Config, backend: Backend, sel: Selection) -> list[dict[str, object]]:
    return [row.row() for row in sorted(backend.latency(sel), key=lambda r: (r.site, r.target))]


def traffic(config: Config, backend: Backend, sel: Selection) -> list[Bandwidth]:
    devices = {c.name: c for c in config.checks.all if "interface" in c.probe.measurements}
    need = {name: bandwidth.min_samples(c.interval_s) for name, c in devices.items()}
    default = min(need.values()) if need else bandwidth.min_samples(60.0)
    found = backend.traffic(sel, min_samples_of=need, default_min=default)
    result = []
    for t in found:
        device = devices.get(t.device)
        uplink = device.uplink if device is not None else None
        is_uplink = uplink is not None and uplink.matches(
            {"if_name": t.if_name, "if_alias": t.if_alias, "if_index": t.if_index})
        capacity = t.speed_bps
        if is_uplink and uplink is not None:
            capacity = uplink.capacity_bps[t.direction] or capacity
        result.append(Bandwidth(t, (sel.until_ns - sel.since_ns) / 1e9, capacity, is_uplink))
    result.sort(key=lambda b: (b.traffic.site, b.traffic.device, _index(b.traffic.if_index),
                               b.traffic.direction))
    return result


def _index(value: str) -> tuple[int, str]:
    return (int(value), "") if value.isdigit() else (1 << 62, value)


def bandwidth_rows(config: Config, backend: Backend, sel: Selection) -> list[dict[str, object]]:
    return [b.row() for b in traffic(config, backend, sel)]


def top(config: Config, backend: Backend, sel: Selection, *, limit: int = 10,
        min_cycles: int = availability.MIN_CYCLES) -> list[dict[str, object]]:
    """The busiest links (p95 utilisation) and the worst sites (availability)."""
    links = [(util, r) for r in (b.row() for b in traffic(config, backend, sel))
             if isinstance(util := r["util_p95_pct"], int | float)]
    links.sort(key=lambda pair: -pair[0])
    rows: list[dict[str, object]] = []
    for rank, (_, r) in enumerate(links[:limit], 1):
        rows.append({"rank": rank, "kind": "link", "site": r["site"],
                     "name": f"{r['device']} {r['if_name'] or r['if_index']} {r['direction']}",
                     "value": r["util_p95_pct"], "measure": "util_p95_pct",
                     "coverage_pct": r["coverage_pct"]})
    report = analysis(config, backend, sel, min_cycles=min_cycles)
    sites = sorted(((s.availability_pct, s) for s in report.sites
                    if s.availability_pct is not None), key=lambda p: (p[0], p[1].site))
    for rank, (pct, s) in enumerate(sites[:limit], 1):
        rows.append({"rank": rank, "kind": "site", "site": s.site, "name": s.site,
                     "value": round(pct, 4), "measure": "availability_pct",
                     "coverage_pct": round(s.coverage_pct or 0.0, 4)})
    return rows
