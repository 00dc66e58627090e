"""The renderers, fed hostile names (site names, descriptions, interface aliases, targets):
the HTML report holds only the elements and attributes it writes itself, with every name as
text; no CSV cell runs as a formula; nothing printed holds a control character."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import zipfile
from html.parser import HTMLParser

import pytest
from hypothesis import given
from hypothesis import strategies as st

from linkwatch.agent.cli.table import render as render_rows
from linkwatch.agent.config.schema import Site, SiteRequirements
from linkwatch.agent.query.availability import Outage, Uptime
from linkwatch.agent.query.bandwidth import Bandwidth, Traffic
from linkwatch.agent.query.power import SitePower
from linkwatch.agent.query.radio import RadioLink
from linkwatch.agent.query.windows import Window
from linkwatch.agent.report import render_csv, render_html
from linkwatch.agent.report.i18n import Lang
from linkwatch.agent.report.model import DirectionReport, HeatMap, Report, SiteReport, Verdict
from linkwatch.agent.text import printable
from tests.fuzz.budget import examples
from tests.fuzz.strategies import SPECIAL

pytestmark = pytest.mark.fuzz

T0 = 1_790_000_000_000_000_000
MONTH_S = 30 * 86400.0
# What a hostile name uses: markup, quotes, script URLs, escape sequences, formulas.
hostile = st.one_of(
    st.sampled_from(['"><img src=x onerror=alert(1)>', "</svg><script>alert(1)</script>",
                     "=HYPERLINK(\"http://x\",\"y\")", "+1-1", "@SUM(A1)", "\x1b]0;pwn\x07",
                     "a'b\"c<d>e&f", "-->", "#x); fill:url(#a", "\u202eevil"]),
    st.text(alphabet=st.sampled_from(SPECIAL + list("ab <>/=\"'&;#")), min_size=1,
            max_size=30))

# The page's own vocabulary: anything else in the output came from the data.
TAGS = {"html", "head", "meta", "title", "style", "body", "h1", "h2", "h3", "p", "br", "b",
        "span", "section", "table", "tr", "th", "td", "ul", "li", "div", "svg", "g", "path",
        "defs", "clippath", "use", "text", "rect", "tspan", "line", "polyline", "circle",
        "image", "lineargradient", "stop", "pattern"}
ATTRIBUTES_FORBIDDEN_PREFIX = ("on",)


class _Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.found.append((tag, attrs))

    def handle_startendtag(self, tag, attrs):
        self.found.append((tag, attrs))

    def handle_data(self, data):
        self.text.append(data)


def _uptime(site: str, target: str | None) -> Uptime:
    return Uptime(site=site, target=target, period_s=MONTH_S, up_s=MONTH_S * 0.97,
                  down_s=MONTH_S * 0.02, unreachable_s=0.0, unknown_s=MONTH_S * 0.01,
                  outages=1, flaps=0, outage_s=3600.0, samples=1000)


def _direction(site: str, name: str, alias: str, direction: str) -> DirectionReport:
    traffic = Traffic(site=site, device=name, if_index="1", if_name=name, if_alias=alias,
                      direction="in" if direction == "down" else "out", windows=8000,
                      mean_bps=2e6, p95_bps=7e6, max_bps=9e6, util_p95_pct=87.5,
                      above=(100, 50), speed_bps=1e9)
    heat = HeatMap(days=(dt.date(2026, 10, 1), dt.date(2026, 10, 2)),
                   cells=(tuple(float(h * 4) for h in range(24)), (None,) * 24))
    return DirectionReport(direction, Bandwidth(traffic, MONTH_S, 8e6, True), (120, 30), 4e6,
                           heat)


@st.composite
def reports(draw) -> Report:
    names = draw(st.lists(hostile, min_size=1, max_size=3, unique=True))
    sites = []
    for name in names:
        target = draw(hostile)
        sites.append(SiteReport(
            site=Site(name=name, description=draw(hostile)), requirements=SiteRequirements(),
            uptime=_uptime(name, None), targets=(_uptime(name, target),),
            outages=(Outage(name, target, T0, None, 3600.0, 60, "ongoing", draw(hostile),
                            0.0),),
            down=_direction(name, draw(hostile), draw(hostile), "down"), up=None,
            quality=None, uplink=draw(hostile),
            radio=(RadioLink(name, draw(hostile), draw(hostile), tuple(
                Window(T0 + i * 3_600_000_000_000, {"signal_dbm": 3, "ccq_pct": 3},
                       {"signal_dbm": -70.0 - i, "ccq_pct": 90.0 - 5 * i},
                       {"signal_dbm": -80.0, "ccq_pct": 60.0},
                       {"signal_dbm": -65.0, "ccq_pct": 95.0}) for i in range(6)),
                -75.0, 70.0, MONTH_S),),
            power=SitePower(name, (draw(hostile),), (), {}),
            verdicts=(Verdict("availability", 2, "availability_gap",
                              {"availability": 97.0, "target": 99.0, "downtime_s": 3600.0,
                               "outages": 1}),)))
    return Report(since_ns=T0, until_ns=T0 + int(MONTH_S * 1e9), tz=dt.UTC,
                  source=("influx", draw(hostile)), sites=tuple(sites),
                  district=_uptime("district", None), generated_ns=T0, min_cycles=3)


@examples(12)
@given(reports(), st.sampled_from(["vi", "en"]))
def test_the_html_report_holds_only_its_own_markup_and_every_name_as_text(report, lang):
    html = render_html.render(report, Lang(lang))
    parser = _Elements()
    parser.feed(html)
    for tag, attrs in parser.found:
        assert tag in TAGS, (tag, attrs)
        for name, value in attrs:
            assert not name.startswith(ATTRIBUTES_FORBIDDEN_PREFIX), (tag, name)
            assert not (value or "").lower().lstrip().startswith("javascript:"), (tag, value)
    text = "".join(parser.text)
    for site in report.sites:
        assert site.name.strip() in text or not site.name.strip()


@examples(150)
@given(reports(), st.sampled_from(["vi", "en"]))
def test_no_cell_of_the_report_csv_runs_as_a_formula(report, lang):
    zipped = zipfile.ZipFile(io.BytesIO(render_csv.render(report, Lang(lang))))
    for name in zipped.namelist():
        for row in csv.reader(io.StringIO(zipped.read(name).decode("utf-8"), newline="")):
            for cell in row:
                assert not cell.lstrip(" ").startswith(("=", "+", "@", "\t", "\r", "\n")) \
                    and not (cell.startswith("-") and not _number(cell)), (name, cell)


def _number(text: str) -> bool:
    if text == "-":                     # the CLI's "no value", not a formula
        return True
    try:
        float(text)
    except ValueError:
        return False
    return True


rows = st.lists(st.fixed_dictionaries({
    "site": hostile, "target": hostile, "state": st.sampled_from(["UP", "DOWN", "UNKNOWN"]),
    "loss_pct": st.one_of(st.none(), st.floats(-1e9, 1e9)), "up": st.integers(-5, 5)}),
    min_size=1, max_size=8)


@examples(500)
@given(rows, st.sampled_from(["table", "json", "csv"]))
def test_what_the_cli_prints_holds_no_control_character_and_no_formula(found, fmt):
    out = render_rows(found, fmt, ["site", "target", "state", "loss_pct", "up"])
    assert printable(out) == out          # nothing left to escape: no control characters
    assert not any(0x80 <= ord(c) <= 0x9f or c == "\x1b" for c in out)
    if fmt == "json":
        assert json.loads(out) == found   # escaped as JSON escapes: the same values
    if fmt == "csv":
        for row in list(csv.reader(io.StringIO(out, newline="")))[1:]:
            for cell in row:
                assert not cell.lstrip(" ").startswith(("=", "+", "@", "\t", "\r", "\n")) \
                    and not (cell.startswith("-") and not _number(cell)), cell
    if fmt == "table":
        assert len(out.splitlines()) == len(found) + 1   # one line per row, whatever the text
