"""Charts as inline SVG from matplotlib (imported here only: it is heavy).

Text stays text (`svg.fonttype: none`), so the page's font, which carries Vietnamese
diacritics, draws it; hours with no data are masked, so a gap shows as a blank cell.
"""

from __future__ import annotations

import io
import re

from linkwatch.agent.report.i18n import Lang
from linkwatch.agent.report.model import HeatMap, SiteReport

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


def strip_ids(svg: str, prefix: str) -> str:
    """Makes the ids of one SVG unique in a page that holds many."""
    ids = set(re.findall(r'id="([^"]+)"', svg))
    for name in sorted(ids, key=len, reverse=True):
        svg = svg.replace(f'id="{name}"', f'id="{prefix}{name}"')
        svg = svg.replace(f"#{name})", f"#{prefix}{name})").replace(
            f'"#{name}"', f'"#{prefix}{name}"')
    return svg
