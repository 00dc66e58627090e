"""Gathers a report: the query layer's answers for every site, and the uplinks' usage.

    report = build(config, backend, Selection(since_ns, until_ns))
"""

from __future__ import annotations

import dataclasses
import time

from linkwatch.agent.config.schema import Config, Site, Uplink
from linkwatch.agent.query import answers, availability
from linkwatch.agent.query.backend import Backend
from linkwatch.agent.query.bandwidth import MIN_COVERAGE_PCT, Bandwidth, min_samples
from linkwatch.agent.query.selection import Selection
from linkwatch.agent.query.uplinks import UplinkQuery
from linkwatch.agent.report.model import (
    CauseSplit,
    DirectionReport,
    HeatMap,
    Quality,
    Report,
    SiteReport,
)
from linkwatch.agent.report.uplink_charts import heat_cells, office_minutes_above
from linkwatch.agent.report.verdicts import judge

DIRECTIONS = (("down", "in"), ("up", "out"))


def uplink_queries(config: Config, sites: list[Site]) -> dict[str, UplinkQuery]:
    """Per site, the uplink its bandwidth is measured on and what its windows need."""
    found: dict[str, UplinkQuery] = {}
    for site in sites:
        check = config.uplink_check(site.name)
        if check is not None and check.uplink is not None:
            found[site.name] = UplinkQuery(check.uplink, min_samples(check.interval_s))
    return found


def build(config: Config, backend: Backend, sel: Selection, *,
          min_cycles: int | None = None) -> Report:
    """The report of `sel`; `min_cycles` (N) defaults to the config's alerts.outage_cycles."""
    min_cycles = min_cycles or config.alerts.outage_cycles
    tz = config.tz
    sites = [s for s in config.sites if sel.wants(s.name)]
    if not sites:
        # a config without declared sites: the agent's own site
        sites = [Site(name=config.agent.site)]
    scope = answers.fetch_scope(config, sel)
    series = answers.link_series(config, backend, scope)
    analysis = answers.analysis(config, backend, sel, min_cycles=min_cycles, series=series)
    evidence = answers.power_and_radio(config, backend, scope, series)
    traffic = answers.traffic(config, backend, sel)
    latency = backend.latency(sel)
    links = uplink_queries(config, sites)
    lowest = min(p for s in sites for p in (s.requirements.warn_pct,
                                             s.requirements.upgrade_pct))
    usage = backend.uplink_usage(sel, list(links.values()), lowest)
    loss = backend.loss_while_up(sel)

    site_rows = {u.site: u for u in analysis.sites}
    reports = []
    for site in sites:
        req = site.requirements
        link = links.get(site.name)
        directions: dict[str, DirectionReport | None] = {"down": None, "up": None}
        if link is not None:
            for name, d in DIRECTIONS:
                bw = _bandwidth(traffic, link.uplink, d)
                if bw is None:
                    continue
                ex = usage.get((link.uplink.device, link.uplink.interface))
                office = office_minutes_above(ex, d, req.office_hours, tz,
                                              (req.warn_pct, req.upgrade_pct)) \
                    if ex else (0, 0)
                base = req.baseline_down if name == "down" else req.baseline_up
                required = req.video_conferences * float(req.video_conference_rate) + \
                    float(base)
                heat = None
                if ex is not None:
                    days, cells = heat_cells(ex.hourly_bps.get(d, {}), bw.capacity_bps,
                                             sel.since_ns, sel.until_ns, tz)
                    heat = HeatMap(tuple(days), tuple(tuple(r) for r in cells))
                directions[name] = DirectionReport(name, bw, (office[0], office[1]),
                                                   required, heat)
        lat = tuple(x for x in latency if x.site == site.name)
        site_loss = [(loss[(x.site, x.target)]) for x in lat if (x.site, x.target) in loss]
        quality = Quality(lat, max(site_loss) if site_loss else None) if lat else None
        uptime = site_rows.get(site.name)
        outages = tuple(o for o in analysis.outages if o.site == site.name)
        causes = tuple(evidence.cause(o, config) for o in outages)
        split = CauseSplit.of(outages, causes)
        radio = tuple(r.within(sel.since_ns, sel.until_ns) for r in evidence.radio
                      if r.site == site.name)
        power = evidence.power.get(site.name)
        verdicts, score = judge(req, uptime, directions["down"], directions["up"], quality,
                                split=split, radio=radio, power=power)
        reports.append(SiteReport(
            site=site, requirements=req, uptime=uptime,
            targets=tuple(t for t in analysis.targets if t.site == site.name),
            outages=outages, down=directions["down"], up=directions["up"], quality=quality,
            uplink=f"{link.uplink.device} {link.uplink.interface}" if link else None,
            causes=causes, split=split, radio=radio, power=power,
            verdicts=tuple(verdicts), score=score))
    reports.sort(key=lambda r: (-r.score, r.name))
    district = availability.roll_up(
        [_as_district(t) for t in analysis.targets if any(t.site == s.name for s in sites)])
    return Report(
        since_ns=sel.since_ns, until_ns=sel.until_ns, tz=tz, source=backend.source,
        sites=tuple(reports), district=district[0] if district else None,
        generated_ns=time.time_ns(), min_cycles=min_cycles,
        excluded=_exclusions(reports))


def _as_district(u: availability.Uptime) -> availability.Uptime:
    return dataclasses.replace(u, site="")


def _bandwidth(traffic: list[Bandwidth], uplink: Uplink, direction: str) -> Bandwidth | None:
    for b in traffic:
        t = b.traffic
        if t.device == uplink.device and t.direction == direction and uplink.matches(
                {"if_name": t.if_name, "if_alias": t.if_alias, "if_index": t.if_index}):
            return b
    return None


def _exclusions(reports: list[SiteReport]) -> tuple[tuple[str, dict[str, object]], ...]:
    notes: list[tuple[str, dict[str, object]]] = [("excl_unknown", {}), ("excl_gaps", {})]
    for r in reports:
        if r.uptime is not None and r.uptime.maintenance_s:
            notes.append(("excl_maintenance", {"site": r.name,
                                               "maintenance_s": r.uptime.maintenance_s}))
        charged = [o for o in r.outages if o.charged_to]
        if charged:
            notes.append(("excl_parent", {"site": r.name, "count": len(charged),
                                          "parent": charged[0].charged_to}))
        if r.uplink is None:
            notes.append(("excl_no_uplink", {"site": r.name}))
        for d in (r.down, r.up):
            if d is not None and d.bandwidth.coverage_pct < MIN_COVERAGE_PCT:
                notes.append(("excl_insufficient", {"site": r.name, "direction": d.direction,
                                                    "coverage": d.bandwidth.coverage_pct}))
    return tuple(notes)
