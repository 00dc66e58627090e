"""Plain findings per site from its figures and its declared requirements, and the ranking.

Rules (docs/report.md "Verdicts"):
- availability below the site's target: a gap; coverage below 80%: a warning (the figures
  rest on too little data);
- p95 utilisation of a direction above `upgrade_pct`: a gap ("uplink full"); above
  `warn_pct`: a warning;
- required capacity (video conferences × rate + baseline) above the contracted capacity:
  a gap, with the capacity that would keep both it and the measured p95 under `upgrade_pct`;
- p95 RTT, loss while up or p95 jitter above the site's limits: a warning each;
- the remedy the causes of the downtime point to (docs/report.md "Verdicts"): power cuts
  (a larger battery or solar), a radio degraded for 1 % of the period or more, or outages
  that followed a fade (realign, a larger antenna), outages with no power or radio evidence
  while availability is short (the provider's line). A gap when availability misses its
  target, else a warning. A UPS that carried every power cut is said so, as a finding.
"""

from __future__ import annotations

import math

from linkwatch.agent.config.schema import SiteRequirements
from linkwatch.agent.query.availability import Uptime
from linkwatch.agent.query.bandwidth import MIN_COVERAGE_PCT
from linkwatch.agent.query.power import SitePower
from linkwatch.agent.query.radio import RadioLink
from linkwatch.agent.report.model import CauseSplit, DirectionReport, Quality, Verdict

RADIO_DEGRADED_PCT = 1.0     # degraded share of the measured time that calls for a remedy


def recommended_bps(d: DirectionReport, req: SiteRequirements) -> float:
    """The smallest whole Mbit/s that keeps the required capacity and the p95 under the
    upgrade threshold."""
    need = max(d.required_bps, d.bandwidth.traffic.p95_bps or 0.0)
    return math.ceil(need / (req.upgrade_pct / 100.0) / 1e6) * 1e6


def judge(req: SiteRequirements, uptime: Uptime | None, down: DirectionReport | None,
          up: DirectionReport | None, quality: Quality | None, *,
          split: CauseSplit | None = None, radio: tuple[RadioLink, ...] = (),
          power: SitePower | None = None) -> tuple[list[Verdict], float]:
    found: list[Verdict] = []
    score = 0.0
    avail = uptime.availability_pct if uptime else None
    if uptime is None or avail is None:
        found.append(Verdict("availability", 1, "no_data"))
        score += 50
    else:
        if avail < req.availability_pct:
            found.append(Verdict("availability", 2, "availability_gap", {
                "availability": avail, "target": req.availability_pct,
                "downtime_s": uptime.down_s, "outages": uptime.outages}))
            score += 1000 + (req.availability_pct - avail) * 10
        if (uptime.coverage_pct or 0.0) < MIN_COVERAGE_PCT:
            found.append(Verdict("coverage", 1, "coverage_low",
                                 {"coverage": uptime.coverage_pct or 0.0}))
    for d in (down, up):
        if d is None or d.capacity_bps is None:
            continue
        util = d.p95_util_pct
        values = {"direction": d.direction, "p95_bps": d.bandwidth.traffic.p95_bps,
                  "capacity_bps": d.capacity_bps, "util": util,
                  "hours_warn": d.office_minutes_above[0] / 60,
                  "hours_upgrade": d.office_minutes_above[1] / 60,
                  "warn": req.warn_pct, "upgrade": req.upgrade_pct,
                  "recommended_bps": recommended_bps(d, req)}
        if util is not None and util > req.upgrade_pct:
            found.append(Verdict("bandwidth", 2, "uplink_full", values))
            score += 1000 + util
        elif util is not None and util > req.warn_pct:
            found.append(Verdict("bandwidth", 1, "uplink_busy", values))
            score += 100 + util
        if d.required_bps > d.capacity_bps:
            found.append(Verdict("capacity", 2, "capacity_short", {
                **values, "required_bps": d.required_bps,
                "conferences": req.video_conferences,
                "conference_bps": float(req.video_conference_rate)}))
            score += 1000 + 100 * d.required_bps / d.capacity_bps
    if quality is not None:
        checks = (("rtt_high", quality.rtt_p95_ms, float(req.max_rtt) * 1000),
                  ("loss_high", quality.loss_while_up_pct, req.max_loss_pct),
                  ("jitter_high", quality.jitter_ms, float(req.max_jitter) * 1000))
        for key, value, limit in checks:
            if value is not None and value > limit:
                found.append(Verdict("quality", 1, key, {"value": value, "limit": limit}))
                score += 100 + value / limit
    short = avail is not None and avail < req.availability_pct
    for verdict in remedies(req, split, radio, power, short=short):
        found.append(verdict)
        score += 200 * verdict.severity
    if not any(v.severity for v in found):
        found.append(Verdict("ok", 0, "ok", {"availability": avail,
                                             "target": req.availability_pct}))
    found.sort(key=lambda v: -v.severity)
    return found, score


def remedies(req: SiteRequirements, split: CauseSplit | None, radio: tuple[RadioLink, ...],
             power: SitePower | None, *, short: bool) -> list[Verdict]:
    """What the causes of the downtime point to: one verdict per cause that calls for work."""
    found = []
    severity = 2 if short else 1
    downtime = split.total_s if split else 0.0
    if split and split.seconds.get("power"):
        found.append(Verdict("power", severity, "power_remedy", {
            "power_s": split.seconds["power"], "downtime_s": downtime,
            "flat": power.ran_flat if power else 0, "outages": split.outages["power"]}))
    elif power is not None and power.events:
        found.append(Verdict("power", 0, "power_held", {
            "events": len(power.events), "on_battery_s": power.on_battery_s,
            "charge": power.lowest_charge_pct}))
    worst = max(radio, key=lambda r: r.degraded_pct or 0.0, default=None)
    radio_s = split.seconds.get("radio", 0.0) if split else 0.0
    share = worst.degraded_pct if worst is not None else None
    if worst is not None and ((share or 0.0) >= RADIO_DEGRADED_PCT or radio_s):
        found.append(Verdict("radio", severity if radio_s else 1, "radio_remedy", {
            "floor": worst.floor_dbm, "share": share or 0.0, "radio_s": radio_s,
            "downtime_s": downtime, "device": worst.device}))
    if split and short and split.seconds.get("link"):
        found.append(Verdict("link", 2, "link_remedy", {
            "link_s": split.seconds["link"], "downtime_s": downtime,
            "outages": split.outages["link"]}))
    return found
