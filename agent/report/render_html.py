"""The report as one self-contained HTML file: inline CSS, inline SVG charts, system fonts
that carry Vietnamese diacritics; no script, no link, no request of any kind.

Names come from configs and devices: every one is escaped where it is written, in text and
in attributes, and none is used to build an id."""

from __future__ import annotations

import datetime as dt
from html import escape

from linkwatch.agent.query.bandwidth import MIN_COVERAGE_PCT
from linkwatch.agent.query.causes import CAUSES, Cause, Evidence
from linkwatch.agent.report import charts
from linkwatch.agent.report.i18n import Lang
from linkwatch.agent.report.model import Report, SiteReport, Verdict

# Whatever a name might smuggle in, the page runs no script and loads nothing: only its own
# inline styles and the charts' inline images.
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"

CSS = """
@page { size: A4; margin: 14mm 12mm; }
body { font-family: "Noto Sans", "DejaVu Sans", "Liberation Sans", Arial, sans-serif;
       color: #1d2733; margin: 0 auto; max-width: 1100px; padding: 16px 24px;
       font-size: 13px; line-height: 1.45; }
h1 { font-size: 24px; margin: 0 0 2px; } h2 { font-size: 18px; margin: 22px 0 8px;
     border-bottom: 2px solid #1d4e89; padding-bottom: 3px; color: #1d4e89; }
h3 { font-size: 15px; margin: 14px 0 6px; }
.meta { color: #4a5a6a; margin: 0 0 12px; }
table { border-collapse: collapse; width: 100%; margin: 6px 0 10px; }
th, td { border: 1px solid #c8d0d8; padding: 3px 6px; text-align: left; vertical-align: top; }
th { background: #eef2f6; font-weight: 600; }
td.n { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
.sev2 { color: #a61b1b; font-weight: 600; } .sev1 { color: #9a6200; } .sev0 { color: #1d6b3a; }
.badge { display: inline-block; min-width: 12px; height: 12px; border-radius: 6px;
         margin-right: 4px; vertical-align: -1px; }
.b2 { background: #c0392b; } .b1 { background: #e6a100; } .b0 { background: #2e8b57; }
section.site { break-before: page; } .summary { break-after: page; }
.chart svg { max-width: 100%; height: auto; }
.note { color: #4a5a6a; font-size: 12px; }
ul.verdicts { margin: 4px 0 8px 18px; padding: 0; }
@media print { body { font-size: 10px; padding: 0; max-width: none; }
               th, td { padding: 2px 3px; } .chart { break-inside: avoid; } }
"""


def render(report: Report, lang: Lang) -> str:
    t = lang.t
    since = dt.datetime.fromtimestamp(report.since_ns / 1e9, report.tz)
    until = dt.datetime.fromtimestamp((report.until_ns - 1) // 1_000_000_000, report.tz)
    parts = [
        f'<!DOCTYPE html><html lang="{lang.code}"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
        f"<title>{escape(t('title'))} {lang.date(since.date())}–{lang.date(until.date())}"
        f"</title><style>{CSS}</style></head><body>",
        f"<h1>{escape(t('title'))}</h1>",
        f'<p class="meta">{escape(t("subtitle"))}<br>{escape(t("period"))}: '
        f"{lang.date(since.date())} – {lang.date(until.date())} · {escape(t('generated'))}: "
        f"{lang.datetime(report.generated_ns, report.tz)} · {escape(t('source'))}: "
        f"{escape(t('source_' + report.source[0], where=report.source[1]))}</p>",
        _summary(report, lang),
    ]
    for number, site in enumerate(report.sites, 1):
        parts.append(_site(site, number, report, lang))
    parts.append(_methods(report, lang))
    parts.append(f'<p class="note">{escape(t("footer"))}</p></body></html>')
    return "\n".join(parts)


def verdict_text(v: Verdict, lang: Lang) -> str:
    x = v.values
    fmt: dict[str, object] = {}
    for key, value in x.items():
        if key in ("availability", "target", "coverage", "util", "warn", "upgrade", "share",
                   "charge"):
            fmt[key] = lang.pct(_number(value), 2 if key in ("availability", "target",
                                                             "coverage")
                                else 0 if key in ("util", "warn", "upgrade") else 1)
        elif key.endswith("_bps"):
            fmt[key.removesuffix("_bps")] = lang.rate(_number(value))
        elif key.endswith("_s"):
            fmt[key.removesuffix("_s")] = lang.duration(_number(value))
        elif key == "floor":
            fmt[key] = f"{lang.number(_number(value), 0)} dBm"
        elif key.startswith("hours_"):
            fmt[key] = lang.hours(_number(value))
        elif key == "direction":
            fmt[key] = lang.t(str(value) if value in ("down", "up") else
                              ("down" if value == "in" else "up"))
        else:
            fmt[key] = value
    if v.key in ("rtt_high", "jitter_high"):
        fmt["value"], fmt["limit"] = lang.ms(_number(x["value"])), lang.ms(_number(x["limit"]))
    elif v.key == "loss_high":
        fmt["value"] = lang.pct(_number(x["value"]))
        fmt["limit"] = lang.pct(_number(x["limit"]))
    if "conference_bps" in x:
        fmt["conference"] = lang.rate(_number(x["conference_bps"]))
    return lang.t("v_" + v.key, **fmt)


def _number(value: object) -> float | None:
    """A verdict's number (its values are numbers, a direction's name, or None)."""
    return value if isinstance(value, int | float) else None


def _verdicts(site: SiteReport, lang: Lang) -> str:
    items = "".join(f'<li class="sev{v.severity}">{escape(verdict_text(v, lang))}</li>'
                    for v in site.verdicts)
    return f'<ul class="verdicts">{items}</ul>'


def _summary(report: Report, lang: Lang) -> str:
    t = lang.t
    rows = []
    for rank, s in enumerate(report.sites, 1):
        worst = max((v.severity for v in s.verdicts), default=0)
        u = s.uptime
        rows.append(
            f"<tr><td class=n>{rank}</td><td><span class='badge b{worst}'></span>"
            f"<b>{escape(s.name)}</b><br><span class=note>{escape(s.site.description or '')}"
            f"</span></td><td>{_verdicts(s, lang)}</td>"
            f"<td class=n>{lang.pct(u.availability_pct if u else None)}<br>"
            f"<span class=note>{escape(t('target'))} {lang.pct(s.requirements.availability_pct)}"
            f"</span></td><td class=n>{lang.pct(u.coverage_pct if u else None)}</td>"
            f"<td class=n>{lang.pct(s.down.p95_util_pct if s.down else None, 0)}</td></tr>")
    d = report.district
    district = (f"<p><b>{escape(t('district'))}</b>: {escape(t('availability'))} "
                f"{lang.pct(d.availability_pct if d else None)} · {escape(t('coverage'))} "
                f"{lang.pct(d.coverage_pct if d else None)} · {escape(t('downtime'))} "
                f"{lang.duration(d.down_s if d else None)} · {escape(t('outages'))} "
                f"{d.outages if d else 0}</p>")
    chart = charts.availability_bars(list(report.sites), lang)
    return (f'<section class="summary"><h2>{escape(t("summary"))}</h2>{district}'
            f"<table><tr><th>{escape(t('rank'))}</th><th>{escape(t('site'))}</th>"
            f"<th>{escape(t('verdict'))}</th><th>{escape(t('availability'))}</th>"
            f"<th>{escape(t('coverage'))}</th><th>{escape(t('utilisation'))} "
            f"({escape(t('down'))})</th></tr>{''.join(rows)}</table>"
            f'<div class="chart">{charts.strip_ids(chart, "sum-")}</div></section>')


def _site(site: SiteReport, number: int, report: Report, lang: Lang) -> str:
    t = lang.t
    out = [f'<section class="site" id="site-{escape(site.name)}"><h2>{escape(site.name)}</h2>']
    if site.site.description:
        out.append(f'<p class="meta">{escape(site.site.description)}</p>')
    out.append(_verdicts(site, lang))
    u = site.uptime
    out.append(f"<h3>{escape(t('availability'))}</h3>")
    if u is None:
        out.append(f"<p>{escape(t('no_data'))}</p>")
    else:
        cells = [(t("availability"), lang.pct(u.availability_pct)),
                 (t("target"), lang.pct(site.requirements.availability_pct)),
                 (t("coverage"), lang.pct(u.coverage_pct)),
                 (t("downtime"), lang.duration(u.down_s)),
                 (t("outages"), str(u.outages)), (t("flaps"), str(u.flaps)),
                 (t("mttr"), lang.duration(u.mttr_s)), (t("mtbf"), lang.duration(u.mtbf_s))]
        if u.maintenance_s:
            cells.append((t("maintenance"), lang.duration(u.maintenance_s)))
        out.append("<table><tr>" + "".join(f"<th>{escape(k)}</th>" for k, _ in cells) +
                   "</tr><tr>" + "".join(f"<td class=n>{v}</td>" for _, v in cells) +
                   "</tr></table>")
    out.append(f"<h3>{escape(t('outage_list'))}</h3>")
    if site.outages:
        causes: tuple[Cause | None, ...] = site.causes or tuple(None for _ in site.outages)
        rows = "".join(
            f"<tr><td>{escape(o.target)}</td><td>{lang.datetime(o.start_ns, report.tz)}</td>"
            f"<td>{_outage_end(o, report, lang)}</td><td class=n>{lang.duration(o.duration_s)}</td>"
            f"<td>{_cause_cell(c, report, lang)}</td>"
            f"<td>{escape(o.charged_to or site.name)}</td></tr>"
            for o, c in zip(site.outages, causes, strict=True))
        out.append(f"<table><tr><th>{escape(t('probe'))}</th><th>{escape(t('start'))}</th>"
                   f"<th>{escape(t('end'))}</th><th>{escape(t('duration'))}</th>"
                   f"<th>{escape(t('cause'))}</th>"
                   f"<th>{escape(t('charged_to'))}</th></tr>{rows}</table>")
        out.append(_by_cause(site, lang))
    else:
        out.append(f"<p>{escape(t('no_outage'))}</p>")
    if site.radio:
        out.append(_radio_panel(site, number, report, lang))
    if site.power is not None:
        out.append(_power_panel(site, number, report, lang))
    out.append(f"<h3>{escape(t('bandwidth'))}</h3>")
    if site.down is None and site.up is None:
        out.append(f"<p>{escape(t('no_uplink'))}</p>")
    else:
        out.append(f"<p class=note>{escape(t('uplink'))}: {escape(site.uplink or '')}</p>")
        out.append(_bandwidth_table(site, lang))
        for d in (site.down, site.up):
            if d is not None and d.heat is not None and d.direction == _busier(site):
                title = t("heat_title", direction=t(d.direction))
                svg = charts.heat_map(d.heat, lang, title[0].upper() + title[1:])
                # ids take the site's rank, never its name: a name is not markup
                out.append(f'<div class="chart">{charts.strip_ids(svg, f"site{number}-")}'
                           f'</div><p class="note">{escape(t("gap_legend"))}</p>')
    out.append(f"<h3>{escape(t('quality'))}</h3>")
    out.append(_quality_table(site, lang))
    out.append("</section>")
    return "\n".join(out)


def evidence_text(e: Evidence, tz, lang: Lang) -> str:
    """One piece of evidence in the report's language."""
    values: dict[str, object] = {"device": e.device, "link": e.link,
                                 "start": lang.datetime(e.start_ns, tz),
                                 "end": lang.datetime(e.end_ns, tz)}
    if e.kind == "signal":
        values |= {"value": lang.dbm(e.value), "limit": lang.dbm(e.limit)}
    elif e.kind == "ccq":
        values |= {"value": lang.pct(e.value, 0), "limit": lang.pct(e.limit, 0)}
    return lang.t("ev_" + e.kind, **values)


def _cause_cell(cause: Cause | None, report: Report, lang: Lang) -> str:
    if cause is None:
        return "—"
    detail = "".join(f"<br><span class=note>{escape(evidence_text(e, report.tz, lang))}</span>"
                     for e in cause.evidence)
    return escape(lang.t("cause_" + cause.cause)) + detail


def _by_cause(site: SiteReport, lang: Lang) -> str:
    t = lang.t
    rows = "".join(
        f"<tr><td>{escape(t('cause_' + cause))}</td>"
        f"<td class=n>{lang.duration(site.split.seconds.get(cause, 0.0))}</td>"
        f"<td class=n>{site.split.outages.get(cause, 0)}</td></tr>" for cause in CAUSES)
    return (f"<h3>{escape(t('by_cause'))}</h3><table><tr><th>{escape(t('cause'))}</th>"
            f"<th>{escape(t('downtime'))}</th><th>{escape(t('outages'))}</th></tr>{rows}"
            "</table>")


def _radio_panel(site: SiteReport, number: int, report: Report, lang: Lang) -> str:
    t = lang.t
    rows = []
    for link in site.radio:
        r = link.row()
        rows.append(
            f"<tr><td>{escape(link.device)}<br><span class=note>{escape(link.link)}</span></td>"
            f"<td class=n>{lang.dbm(r['signal_median_dbm'])}</td>"  # type: ignore[arg-type]
            f"<td class=n>{lang.dbm(r['signal_p5_dbm'])}</td>"  # type: ignore[arg-type]
            f"<td class=n>{lang.dbm(r['signal_worst_dbm'])}</td>"  # type: ignore[arg-type]
            f"<td class=n>{lang.pct(r['ccq_median_pct'], 0)}</td>"  # type: ignore[arg-type]
            f"<td class=n>{lang.duration(link.minutes_degraded * 60)} "
            f"({lang.pct(link.degraded_pct, 1)})</td></tr>")
    head = [t("radio_link"), t("signal_median"), t("signal_p5"), t("signal_worst"),
            t("ccq_median"), t("degraded")]
    floor = site.radio[0].floor_dbm
    svg = charts.radio_signal(list(site.radio), report.since_ns, report.until_ns, report.tz,
                              lang, t("radio_chart", floor=f"{lang.number(floor, 0)} dBm"))
    return (f"<h3>{escape(t('radio_panel'))}</h3><table><tr>"
            + "".join(f"<th>{escape(h)}</th>" for h in head) + "</tr>" + "".join(rows)
            + f'</table><div class="chart">{charts.strip_ids(svg, f"site{number}-radio-")}</div>')


def _power_panel(site: SiteReport, number: int, report: Report, lang: Lang) -> str:
    t = lang.t
    p = site.power
    assert p is not None
    cells = [(t("on_battery"), lang.duration(p.on_battery_s)),
             (t("power_events"), str(len(p.events))),
             (t("longest_on_battery"), lang.duration(p.longest_on_battery_s)),
             (t("lowest_charge"), lang.pct(p.lowest_charge_pct, 0)),
             (t("ran_flat"), str(p.ran_flat))]
    svg = charts.power_daily(p, report.since_ns, report.until_ns, report.tz, lang,
                             t("power_chart"))
    return (f"<h3>{escape(t('power_panel'))}</h3><p class=note>{escape(', '.join(p.devices))}"
            "</p><table><tr>" + "".join(f"<th>{escape(k)}</th>" for k, _ in cells)
            + "</tr><tr>" + "".join(f"<td class=n>{v}</td>" for _, v in cells)
            + f'</tr></table><div class="chart">{charts.strip_ids(svg, f"site{number}-power-")}'
            "</div>")


def _outage_end(o, report: Report, lang: Lang) -> str:
    if o.end_ns is not None:
        return lang.datetime(o.end_ns, report.tz)
    return escape(lang.t({"ongoing": "ongoing", "maintenance": "maintenance_began"}.get(
        o.ended_by, "data_gap")))


def _busier(site: SiteReport) -> str:
    down = site.down.p95_util_pct if site.down else None
    up = site.up.p95_util_pct if site.up else None
    return "up" if (up or 0) > (down or 0) else "down"


def _bandwidth_table(site: SiteReport, lang: Lang) -> str:
    t = lang.t
    req = site.requirements
    head = [t("direction"), t("mean"), t("p95"), t("peak"), t("capacity"), t("utilisation"),
            t("hours_above", th=lang.pct(req.warn_pct, 0)),
            t("hours_above", th=lang.pct(req.upgrade_pct, 0)), t("required"), t("coverage")]
    rows = []
    for d in (site.down, site.up):
        if d is None:
            continue
        tr = d.bandwidth.traffic
        insufficient = d.bandwidth.coverage_pct < MIN_COVERAGE_PCT
        rows.append("<tr>" + "".join([
            f"<td>{escape(t(d.direction))}</td>",
            f"<td class=n>{lang.rate(tr.mean_bps)}</td>",
            f"<td class=n>{lang.rate(tr.p95_bps)}"
            + (f"<br><span class=note>{escape(t('insufficient'))}</span>" if insufficient
               else "") + "</td>",
            f"<td class=n>{lang.rate(tr.max_bps)}</td>",
            f"<td class=n>{lang.rate(d.capacity_bps)}</td>",
            f"<td class=n>{lang.pct(d.p95_util_pct, 1)}</td>",
            f"<td class=n>{lang.hours(d.office_minutes_above[0] / 60)}</td>",
            f"<td class=n>{lang.hours(d.office_minutes_above[1] / 60)}</td>",
            f"<td class=n>{lang.rate(d.required_bps)}</td>",
            f"<td class=n>{lang.pct(d.bandwidth.coverage_pct)}</td>"]) + "</tr>")
    return ("<table><tr>" + "".join(f"<th>{escape(h)}</th>" for h in head) + "</tr>"
            + "".join(rows) + "</table>")


def _quality_table(site: SiteReport, lang: Lang) -> str:
    t = lang.t
    q = site.quality
    if q is None:
        return f"<p>{escape(t('no_data'))}</p>"
    req = site.requirements
    rows = [(t("rtt_median"), lang.ms(q.rtt_median_ms), "—"),
            (t("rtt_p95"), lang.ms(q.rtt_p95_ms), lang.ms(float(req.max_rtt) * 1000)),
            (t("loss"), lang.pct(q.loss_while_up_pct), lang.pct(req.max_loss_pct)),
            (t("jitter"), lang.ms(q.jitter_ms), lang.ms(float(req.max_jitter) * 1000))]
    return (f"<table><tr><th>{escape(t('measure'))}</th><th>{escape(t('value'))}</th>"
            f"<th>{escape(t('limit'))}</th></tr>"
            + "".join(f"<tr><td>{escape(a)}</td><td class=n>{b}</td><td class=n>{c}</td></tr>"
                      for a, b, c in rows) + "</table>")


def _methods(report: Report, lang: Lang) -> str:
    t = lang.t
    defs = "".join(f"<li>{escape(t(k, n=report.min_cycles) if k == 'd_outage' else t(k))}</li>"
                   for k in ("d_states", "d_outage", "d_availability", "d_bandwidth", "d_gap",
                             "d_quality", "d_radio", "d_power", "d_cause"))
    excluded = "".join(
        f"<li>{escape(t(k, **_fmt_values(v, lang)))}</li>" for k, v in report.excluded)
    d = report.district
    coverage = (f"<p>{escape(t('coverage'))} ({escape(t('district'))}): "
                f"{lang.pct(d.coverage_pct if d else None)}</p>")
    return (f'<section class="site"><h2>{escape(t("methods"))}</h2><h3>'
            f"{escape(t('definitions'))}</h3><ul>{defs}</ul>{coverage}"
            f"<h3>{escape(t('excluded'))}</h3><ul>{excluded}</ul></section>")


def _fmt_values(values: dict[str, object], lang: Lang) -> dict[str, object]:
    out = dict(values)
    if "maintenance_s" in out:
        out["duration"] = lang.duration(out.pop("maintenance_s"))  # type: ignore[arg-type]
    if "coverage" in out:
        out["coverage"] = lang.pct(out["coverage"])  # type: ignore[arg-type]
    if out.get("direction") in ("down", "up"):
        out["direction"] = lang.t(str(out["direction"]))
    return out
