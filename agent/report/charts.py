"""Charts as inline SVG from matplotlib (imported here only: it is heavy).

Text stays text (`svg.fonttype: none`), so the page's font, which carries Vietnamese
diacritics, draws it; hours with no data are masked, so a gap shows as a blank cell.
"""

from __future__ import annotations

import datetime as dt
import io
import re
from collections import defaultdict

from linkwatch.agent.query.power import SitePower
from linkwatch.agent.query.radio import SIGNAL, RadioLink
from linkwatch.agent.report.i18n import Lang
from linkwatch.agent.report.model import HeatMap, SiteReport

_HOUR_NS = 3600 * 10**9

_FONTS = ["Noto Sans", "DejaVu Sans", "sans-serif"]


def _pyplot():
    import logging

    import matplotlib

    matplotlib.use("svg")
    # a missing family in the list is normal (the page's font draws the text): no warnings
    logging.getLogger("matplotlib.font_manager").setLevel(logging.ERROR)
    import matplotlib.pyplot as plt

    plt.rcParams.update({"svg.fonttype": "none", "font.family": _FONTS, "font.size": 9,
                         "svg.hashsalt": "linkwatch"})   # stable ids: same input, same file
    return plt


def _svg(fig) -> str:
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    _pyplot().close(fig)
    text = buffer.getvalue()
    # Inline in HTML5 the SVG needs no prolog, DOCTYPE, namespace declarations or RDF
    # metadata; dropping them leaves no URL of any kind in the page.
    text = text[text.index("<svg"):]
    text = re.sub(r"<metadata>.*?</metadata>", "", text, flags=re.S)
    return re.sub(r'\s+xmlns(:\w+)?="[^"]*"', "", text)


def heat_map(heat: HeatMap, lang: Lang, title: str) -> str:
    import numpy as np

    plt = _pyplot()
    data = np.array([[np.nan if v is None else v for v in row] for row in heat.cells])
    fig, ax = plt.subplots(figsize=(7.2, 0.16 * len(heat.days) + 1.1))
    cmap = plt.get_cmap("RdYlGn_r").with_extremes(bad="white")
    image = ax.imshow(np.ma.masked_invalid(data), aspect="auto", cmap=cmap, vmin=0, vmax=100,
                      interpolation="nearest")
    ax.set_xticks(range(0, 24, 2), [str(h) for h in range(0, 24, 2)])
    step = max(1, len(heat.days) // 16)
    ax.set_yticks(range(0, len(heat.days), step),
                  [lang.date(d)[:5] if lang.code == "vi" else d.isoformat()[5:]
                   for d in heat.days[::step]])
    ax.set_xlabel(lang.t("hour"))
    ax.set_title(title, loc="left", fontsize=10)
    fig.colorbar(image, ax=ax, fraction=0.03, pad=0.02)
    return _svg(fig)


def availability_bars(sites: list[SiteReport], lang: Lang) -> str:
    plt = _pyplot()
    names = [s.name for s in sites]
    values = [s.uptime.availability_pct if s.uptime and s.uptime.availability_pct is not None
              else 0.0 for s in sites]
    targets = [s.requirements.availability_pct for s in sites]
    fig, ax = plt.subplots(figsize=(7.2, 0.24 * len(sites) + 0.9))
    colours = ["#c0392b" if v < t else "#2e8b57" for v, t in zip(values, targets, strict=True)]
    y = range(len(sites))
    ax.barh(list(y), values, color=colours, height=0.6)
    ax.scatter(targets, list(y), marker="|", s=160, color="black", zorder=3,
               label=lang.t("target"))
    ax.set_yticks(list(y), names)
    ax.invert_yaxis()
    low = min([*values, *targets, 90.0])
    ax.set_xlim(max(0.0, low - 2) if low > 50 else 0.0, 100)
    ax.set_xlabel(lang.t("availability") + (" (%)"))
    ax.legend(loc="lower left", fontsize=8)
    ax.set_title(lang.t("avail_chart"), loc="left", fontsize=10)
    return _svg(fig)


def hourly_signal(link: RadioLink) -> dict[int, float]:
    """Hour start (ns) → mean signal over the hour's windows, weighted by their samples."""
    sums: dict[int, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for w in link.windows:
        if SIGNAL in w.mean:
            bucket = sums[w.start_ns // _HOUR_NS * _HOUR_NS]
            bucket[0] += w.mean[SIGNAL] * w.count[SIGNAL]
            bucket[1] += w.count[SIGNAL]
    return {hour: total / n for hour, (total, n) in sorted(sums.items())}


def radio_signal(links: list[RadioLink], since_ns: int, until_ns: int, tz: dt.tzinfo,
                 lang: Lang, title: str) -> str:
    """Each link's hourly mean signal over the period, the site's floor as a dashed line; an
    hour without data breaks the line (a gap, never a value)."""
    import numpy as np

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7.2, 2.4))
    hours = np.arange(since_ns // _HOUR_NS * _HOUR_NS, until_ns, _HOUR_NS)
    x = [dt.datetime.fromtimestamp(h / 1e9, tz) for h in hours]
    for link in links:
        by_hour = hourly_signal(link)
        y = np.array([by_hour.get(int(h), np.nan) for h in hours])
        ax.plot(x, y, linewidth=0.9, label=f"{link.device} {link.link}".strip())
    floor = links[0].floor_dbm
    ax.axhline(floor, color="#c0392b", linestyle="--", linewidth=1.0)
    ax.set_ylabel("dBm")
    ax.set_title(title, loc="left", fontsize=10)
    if len(links) > 1:
        ax.legend(loc="lower left", fontsize=7)
    fig.autofmt_xdate()
    return _svg(fig)


def power_daily(power: SitePower, since_ns: int, until_ns: int, tz: dt.tzinfo, lang: Lang,
                title: str) -> str:
    """Hours on battery per local day of the period."""
    first = dt.datetime.fromtimestamp(since_ns / 1e9, tz).date()
    last = dt.datetime.fromtimestamp((until_ns - 1) / 1e9, tz).date()
    days = [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]
    hours = dict.fromkeys(days, 0.0)
    for run in power.runs:
        if run.kind != "on_battery":
            continue
        at = max(run.start_ns, since_ns)
        while at < min(run.end_ns, until_ns):
            local = dt.datetime.fromtimestamp(at / 1e9, tz)
            midnight = dt.datetime.combine(local.date() + dt.timedelta(days=1), dt.time(),
                                           tzinfo=tz)
            step_end = min(run.end_ns, until_ns, int(midnight.timestamp() * 1e9))
            if local.date() in hours:
                hours[local.date()] += (step_end - at) / 3.6e12
            at = step_end
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7.2, 1.8))
    ax.bar([lang.date(d)[:5] if lang.code == "vi" else d.isoformat()[5:] for d in days],
           [hours[d] for d in days], color="#e6a100")
    ax.set_ylabel(lang.t("hours_unit"))
    ax.set_title(title, loc="left", fontsize=10)
    ax.tick_params(axis="x", labelrotation=90, labelsize=6)
    return _svg(fig)


def strip_ids(svg: str, prefix: str) -> str:
    """Makes the ids of one SVG unique in a page that holds many; `prefix` is a plain
    token (letters, digits, `-`, `_`), never a name from a config or a device."""
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]*", prefix):
        raise ValueError(f"an SVG id prefix must be a plain token, not {prefix!r}")
    ids = set(re.findall(r'id="([^"]+)"', svg))
    for name in sorted(ids, key=len, reverse=True):
        svg = svg.replace(f'id="{name}"', f'id="{prefix}{name}"')
        svg = svg.replace(f"#{name})", f"#{prefix}{name})").replace(
            f'"#{name}"', f'"#{prefix}{name}"')
    return svg
