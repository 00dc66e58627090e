"""Gathers a report: the query layer's answers for every site, plus agent.report.extra.

    report = build(config, backend, Selection(since_ns, until_ns), tz=tz)
"""

from __future__ import annotations

import datetime as dt
import time

from linkwatch.agent.config.schema import Config, Site, SiteRequirements
from linkwatch.agent.query import answers, availability
from linkwatch.agent.query.bandwidth import Bandwidth, min_samples
from linkwatch.agent.query.selection import Selection
from linkwatch.agent.report import extra
from linkwatch.agent.report.model import DirectionReport, HeatMap, Quality, Report, SiteReport
from linkwatch.agent.report.verdicts import judge

DIRECTIONS = (("down", "in"), ("up", "out"))


def requirements(site: Site) -> SiteRequirements:
    return site.requirements or SiteRequirements()


def uplinks(config: Config, sites: list[Site]) -> dict[str, extra.Uplink]:
    """The interface each site's bandwidth is measured on: the first SNMP check of the site
    that names an `uplink`."""
    found: dict[str, extra.Uplink] = {}
    by_name = {s.name: s for s in sites}
    for check in config.checks.snmp:
        site = check.site or config.agent.site
        if check.uplink is None or site not in by_name or site in found:
            continue
        cap = by_name[site].capacity
        capacity = {
            "in": float(check.capacity_down or (cap.down if cap else 0)) or None,
            "out": float(check.capacity_up or (cap.up if cap else 0)) or None}
        found[site] = extra.Uplink(site, check.name, check.uplink,
                                   min_samples(float(check.interval)), capacity)
    return found


def build(config: Config, backend, sel: Selection, *, tz: dt.tzinfo,
          min_cycles: int = availability.MIN_CYCLES) -> Report:
    sites = [s for s in config.sites if sel.wants(s.name)]
    if not sites:
        # a config without declared sites: the agent's own site
        sites = [Site(name=config.agent.site)]
    analysis = answers.analysis(config, backend, sel, min_cycles=min_cycles)
    traffic = answers.traffic(config, backend, sel)
    latency = backend.latency(sel)
    links = uplinks(config, sites)
    thresholds = sorted({p for s in sites for p in
                         (requirements(s).warn_pct, requirements(s).upgrade_pct)})
    if hasattr(backend, "output"):
        extras = extra.influx_uplinks(backend.output, sel, links.values(), thresholds)
        loss = extra.influx_loss_while_up(backend.output, sel)
    else:
        extras = extra.local_uplinks(backend.spool, sel, links.values(), thresholds)
        loss = extra.local_loss_while_up(backend.spool, sel)

    site_rows = {u.site: u for u in analysis.sites}
    reports = []
    for site in sites:
        req = requirements(site)
        link = links.get(site.name)
        directions: dict[str, DirectionReport | None] = {"down": None, "up": None}
        if link is not None:
            for name, d in DIRECTIONS:
                bw = _bandwidth(traffic, link, d)
                if bw is None:
                    continue
                ex = extras.get((link.device, link.interface))
                hours = extra.OfficeHours.parse(req.office_hours)
                office = extra.office_minutes_above(ex, d, hours, tz,
                                                    (req.warn_pct, req.upgrade_pct)) \
                    if ex else (0, 0)
                base = req.baseline_down if name == "down" else req.baseline_up
                required = req.video_conferences * float(req.video_conference_rate) + \
                    float(base)
                heat = None
                if ex is not None:
                    days, cells = extra.heat_cells(ex.hourly_bps.get(d, {}), bw.capacity_bps,
                                                   sel.since_ns, sel.until_ns, tz)
                    heat = HeatMap(tuple(days), tuple(tuple(r) for r in cells))
                directions[name] = DirectionReport(name, bw, (office[0], office[1]),
                                                   required, heat)
        lat = tuple(x for x in latency if x.site == site.name)
        site_loss = [(loss[(x.site, x.target)]) for x in lat if (x.site, x.target) in loss]
        quality = Quality(lat, max(site_loss) if site_loss else None) if lat else None
        uptime = site_rows.get(site.name)
        verdicts, score = judge(req, uptime, directions["down"], directions["up"], quality)
        reports.append(SiteReport(
            site=site, requirements=req, uptime=uptime,
            targets=tuple(t for t in analysis.targets if t.site == site.name),
            outages=tuple(o for o in analysis.outages if o.site == site.name),
            down=directions["down"], up=directions["up"], quality=quality,
            uplink=f"{link.device} {link.interface}" if link else None,
            verdicts=tuple(verdicts), score=score))
    reports.sort(key=lambda r: (-r.score, r.name))
    district = availability.roll_up(
        [_as_district(t) for t in analysis.targets if any(t.site == s.name for s in sites)])
    return Report(
        since_ns=sel.since_ns, until_ns=sel.until_ns, tz=tz, source=_source(backend),
        sites=tuple(reports), district=district[0] if district else None,
        generated_ns=time.time_ns(), min_cycles=min_cycles,
        excluded=_exclusions(reports))


def _as_district(u):
    import dataclasses

    return dataclasses.replace(u, site="")


def _bandwidth(traffic: list[Bandwidth], link: extra.Uplink, direction: str) -> Bandwidth | None:
    for b in traffic:
        t = b.traffic
        if t.device == link.device and t.direction == direction and link.interface in (
                t.if_name, t.if_alias, t.if_index):
            return b
    return None


def _exclusions(reports: list[SiteReport]) -> tuple[tuple[str, dict[str, object]], ...]:
    notes: list[tuple[str, dict[str, object]]] = [("excl_unknown", {}), ("excl_gaps", {})]
    for r in reports:
        charged = [o for o in r.outages if o.charged_to]
        if charged:
            notes.append(("excl_parent", {"site": r.name, "count": len(charged),
                                          "parent": charged[0].charged_to}))
        if r.uplink is None:
            notes.append(("excl_no_uplink", {"site": r.name}))
        for d in (r.down, r.up):
            if d is not None and d.bandwidth.coverage_pct < 80:
                notes.append(("excl_insufficient", {"site": r.name, "direction": d.direction,
                                                    "coverage": d.bandwidth.coverage_pct}))
    return tuple(notes)


def _source(backend) -> tuple[str, str]:
    """Where the numbers came from, as (kind, place) for the report to say in its language."""
    from linkwatch.agent.query.local import LocalBackend

    if isinstance(backend, LocalBackend):
        return "local", str(backend.spool.stats().path)
    return "influx", f"{backend.output.url} ({backend.output.database})"
