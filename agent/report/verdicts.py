"""Plain findings per site from its figures and its declared requirements, and the ranking.

Rules (docs/report.md "Verdicts"):
- availability below the site's target: a gap; coverage below 80%: a warning (the figures
  rest on too little data);
- p95 utilisation of a direction above `upgrade_pct`: a gap ("uplink full"); above
  `warn_pct`: a warning;
- required capacity (video conferences × rate + baseline) above the contracted capacity:
  a gap, with the capacity that would keep both it and the measured p95 under `upgrade_pct`;
- p95 RTT, loss while up or p95 jitter above the site's limits: a warning each.
"""

from __future__ import annotations

import math

from linkwatch.agent.config.schema import SiteRequirements
from linkwatch.agent.query.availability import Uptime
from linkwatch.agent.query.bandwidth import MIN_COVERAGE_PCT
from linkwatch.agent.report.model import DirectionReport, Quality, Verdict


def recommended_bps(d: DirectionReport, req: SiteRequirements) -> float:
    """The smallest whole Mbit/s that keeps the required capacity and the p95 under the
    upgrade threshold."""
    need = max(d.required_bps, d.bandwidth.traffic.p95_bps or 0.0)
    return math.ceil(need / (req.upgrade_pct / 100.0) / 1e6) * 1e6


def judge(req: SiteRequirements, uptime: Uptime | None, down: DirectionReport | None,
          up: DirectionReport | None, quality: Quality | None) -> tuple[list[Verdict], float]:
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
    if not any(v.severity for v in found):
        found.append(Verdict("ok", 0, "ok", {"availability": avail,
                                             "target": req.availability_pct}))
    found.sort(key=lambda v: -v.severity)
    return found, score
