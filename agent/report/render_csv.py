"""The report as CSV: one tidy table per section, in a zip (summary, availability, outages,
causes, bandwidth, heatmap, quality, radio, power, verdicts). Numbers are plain (dot
decimal, bit/s, seconds, ISO 8601 times) whatever the language; headers and verdict
sentences follow the language.
A text cell that starts with `=`, `+`, `-`, `@`, tab, CR or LF starts with `'` instead, so a
spreadsheet shows it and never runs it."""

from __future__ import annotations

import csv
import io
import zipfile

from linkwatch.agent.query.causes import CAUSES, Cause
from linkwatch.agent.query.timerange import iso
from linkwatch.agent.report.i18n import Lang
from linkwatch.agent.report.model import Report
from linkwatch.agent.report.render_html import verdict_text
from linkwatch.agent.text import spreadsheet_cell


def tables(report: Report, lang: Lang) -> dict[str, list[dict[str, object]]]:
    out: dict[str, list[dict[str, object]]] = {k: [] for k in (
        "summary", "availability", "outages", "causes", "bandwidth", "heatmap", "quality",
        "radio", "power", "verdicts")}
    for rank, s in enumerate(report.sites, 1):
        u = s.uptime
        out["summary"].append({
            "rank": rank, "site": s.name, "severity": max(v.severity for v in s.verdicts),
            "verdict": " ".join(verdict_text(v, lang) for v in s.verdicts),
            "availability_pct": _r(u.availability_pct if u else None, 4),
            "target_pct": s.requirements.availability_pct,
            "coverage_pct": _r(u.coverage_pct if u else None, 4),
            "util_p95_down_pct": _r(s.down.p95_util_pct if s.down else None, 3),
            "util_p95_up_pct": _r(s.up.p95_util_pct if s.up else None, 3)})
        if u is not None:
            out["availability"].append({"site": s.name, **{
                k: v for k, v in u.row().items() if k not in ("site", "target")},
                "target_pct": s.requirements.availability_pct})
        causes: tuple[Cause | None, ...] = s.causes or tuple(None for _ in s.outages)
        for o, c in zip(s.outages, causes, strict=True):
            out["outages"].append({
                "site": o.site, "target": o.target, "start": iso(o.start_ns, report.tz),
                "end": iso(o.end_ns, report.tz), "duration_s": round(o.duration_s, 3),
                "cause": c.cause if c else "",
                "evidence": "; ".join(e.text(report.tz) for e in c.evidence) if c else "",
                "ended_by": o.ended_by, "charged_to": o.charged_to or ""})
        for cause in CAUSES:
            out["causes"].append({"site": s.name, "cause": cause,
                                  "downtime_s": round(s.split.seconds.get(cause, 0.0), 3),
                                  "outages": s.split.outages.get(cause, 0)})
        out["radio"] += [link.row() for link in s.radio]
        if s.power is not None:
            out["power"].append(s.power.row())
        for d in (s.down, s.up):
            if d is None:
                continue
            row = d.bandwidth.row()
            out["bandwidth"].append({
                "site": s.name, "direction": d.direction, "device": row["device"],
                "if_name": row["if_name"], "mean_bps": row["mean_bps"],
                "p95_bps": row["p95_bps"], "max_bps": row["max_bps"],
                "capacity_bps": row["capacity_bps"], "util_p95_pct": row["util_p95_pct"],
                "minutes_above_warn_office": d.office_minutes_above[0],
                "minutes_above_upgrade_office": d.office_minutes_above[1],
                "minutes_above_70": row["minutes_above_70"],
                "minutes_above_80": row["minutes_above_80"],
                "required_bps": d.required_bps, "coverage_pct": row["coverage_pct"],
                "insufficient": row["insufficient"]})
            if d.heat is not None:
                for day, cells in zip(d.heat.days, d.heat.cells, strict=True):
                    for hour, value in enumerate(cells):
                        out["heatmap"].append({
                            "site": s.name, "direction": d.direction, "date": day.isoformat(),
                            "hour": hour, "util_pct": _r(value, 3)})
        if s.quality is not None:
            for x in s.quality.latency:
                out["quality"].append({**x.row(),
                                       "loss_while_up_pct": _r(s.quality.loss_while_up_pct, 4),
                                       "max_rtt_ms": float(s.requirements.max_rtt) * 1000,
                                       "max_loss_pct": s.requirements.max_loss_pct,
                                       "max_jitter_ms": float(s.requirements.max_jitter) * 1000})
        for v in s.verdicts:
            out["verdicts"].append({"site": s.name, "kind": v.kind, "severity": v.severity,
                                    "key": v.key, "text": verdict_text(v, lang)})
    return out


def _r(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def render(report: Report, lang: Lang) -> bytes:
    """A zip of one CSV per section."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, rows in tables(report, lang).items():
            text = io.StringIO()
            if rows:
                # CRLF, as RFC 4180 has it: Python's writer quotes a cell holding a line
                # terminator character, so a CR or LF in a name cannot start a new row
                writer = csv.DictWriter(text, fieldnames=list(rows[0]), lineterminator="\r\n")
                writer.writeheader()
                # names come from devices and configs: none may run as a formula
                writer.writerows({k: spreadsheet_cell(v) for k, v in row.items()}
                                 for row in rows)
            zf.writestr(f"{name}.csv", text.getvalue())
    return buffer.getvalue()
