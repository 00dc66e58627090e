"""The planners' report on a seeded month: its numbers are the query layer's, its verdicts
find the planted truths, its HTML renders offline in Chromium and its PDF holds the text.

The month is the demo's (agent.operations.demo) for five sites of the district example,
seeded once into a spool, a real InfluxDB 1.x and a real victoria-metrics.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from linkwatch.agent.config import load_config
from linkwatch.agent.operations.demo import Scenario, seed_output, seed_spool
from linkwatch.agent.query import answers
from linkwatch.agent.query.influx import InfluxBackend
from linkwatch.agent.query.local import LocalBackend
from linkwatch.agent.query.selection import Selection
from linkwatch.agent.query.timerange import Month
from linkwatch.agent.query.victoria import VictoriaBackend
from linkwatch.agent.report.collect import build
from linkwatch.agent.report.generate import render
from linkwatch.agent.report.i18n import Lang
from linkwatch.agent.report.render_pdf import isolated_args
from linkwatch.agent.spool import Spool
from tests.integration.rows import assert_same_rows
from tests.servers.influxdb import influxdb  # noqa: F401  (session fixture)
from tests.servers.process import unavailable

pytestmark = pytest.mark.integration

CONFIG = """\
agent:
  name: vandon-district
  site: district-lan
  timezone: Asia/Ho_Chi_Minh
  spool: {{path: {spool}, max_size: 1GiB, history: 3650d}}
outputs:
  - {{type: influxdb, url: "{url}", version: "1", database: {db}, gzip: true, timeout: 120s}}
  - {{type: victoriametrics, url: "{vm}", timeout: 120s}}
sites:
  - {{name: district-lan, capacity: {{down: 100Mbps, up: 100Mbps}}}}
  - {{name: cai-rong, parent: district-lan, capacity: {{down: 20Mbps, up: 10Mbps}}}}
  - {{name: dong-xa, parent: district-lan, capacity: {{down: 16Mbps, up: 6Mbps}}}}
  - {{name: quan-lan, parent: district-lan, capacity: {{down: 20Mbps, up: 8Mbps}},
     description: Xã Quan Lạn (island),
     requirements: {{availability_pct: 98, video_conferences: 2, baseline_down: 12Mbps}}}}
  - {{name: minh-chau, parent: quan-lan, capacity: {{down: 10Mbps, up: 4Mbps}},
     requirements: {{video_conferences: 2, baseline_down: 4Mbps, baseline_up: 1Mbps}}}}
checks:
  ping:
    - {{name: district-core, address: 127.0.0.1, interval: 2m}}
    - {{name: cai-rong-router, address: 127.0.0.2, site: cai-rong, interval: 2m}}
    - {{name: dong-xa-router, address: 127.0.0.3, site: dong-xa, interval: 2m}}
    - {{name: quan-lan-router, address: 127.0.0.4, site: quan-lan, interval: 2m}}
    - {{name: minh-chau-router, address: 127.0.0.5, site: minh-chau, interval: 2m}}
  snmp:
    - {{name: district-core, address: 127.0.0.1, community: public, uplink: wan, interval: 2m}}
    - {{name: cai-rong-router, address: 127.0.0.2, community: public, site: cai-rong,
       uplink: wan, interval: 2m}}
    - {{name: dong-xa-router, address: 127.0.0.3, community: public, site: dong-xa,
       uplink: wan, interval: 2m}}
    - {{name: quan-lan-router, address: 127.0.0.4, community: public, site: quan-lan,
       uplink: wan, interval: 2m}}
    - {{name: minh-chau-router, address: 127.0.0.5, community: public, site: minh-chau,
       uplink: wan, interval: 2m}}
"""


@pytest.fixture(scope="module")
def seeded(tmp_path_factory, influxdb, victoria_alone):  # noqa: F811
    root = tmp_path_factory.mktemp("report")
    influxdb.create_database("report")
    path = root / "config.yaml"
    path.write_text(CONFIG.format(spool=root / "spool.db", url=influxdb.url, db="report",
                                  vm=victoria_alone.url), encoding="utf-8")
    config = load_config(path)
    month = Month.parse("2026-10", config.tz)
    spool = Spool.open(config.agent.spool.path, max_size=2**30, history_s=3650 * 86400,
                       outputs=[])
    seed_spool(spool, config, month)
    seed_output(config.outputs[0], config, month)
    seed_output(config.outputs[1], config, month)
    victoria_alone.flush()
    yield config, month, spool, root
    spool.close()


def open_(which, config, spool):
    if which == "local":
        return LocalBackend(spool)
    if which == "victoria":
        return VictoriaBackend(config.outputs[1])
    return InfluxBackend(config.outputs[0])


@pytest.fixture(scope="module")
def reports(seeded):
    config, month, spool, _ = seeded
    sel = Selection(month.since_ns, month.until_ns)
    local = build(config, LocalBackend(spool), sel)
    influx = build(config, InfluxBackend(config.outputs[0]), sel)
    return local, influx


@pytest.fixture(scope="module")
def victoria_report(seeded):
    config, month, _spool, _ = seeded
    return build(config, VictoriaBackend(config.outputs[1]),
                 Selection(month.since_ns, month.until_ns))


def _site(report, name):
    return next(s for s in report.sites if s.name == name)


@pytest.mark.parametrize("backend", ["local", "influx", "victoria"])
def test_report_numbers_are_the_query_layers(seeded, reports, victoria_report, backend):
    config, month, spool, _ = seeded
    report = {"local": reports[0], "influx": reports[1], "victoria": victoria_report}[backend]
    source = open_(backend, config, spool)
    sel = Selection(month.since_ns, month.until_ns)
    uptime = {r["site"]: r for r in answers.uptime(config, source, sel) if r["target"] is None}
    bandwidth = {(r["site"], r["direction"]): r
                 for r in answers.bandwidth_rows(config, source, sel)}
    for site in report.sites:
        row = site.uptime.row()
        assert row == uptime[site.name]
        assert site.down.bandwidth.row() == bandwidth[(site.name, "in")]
        assert site.up.bandwidth.row() == bandwidth[(site.name, "out")]


def test_influx_and_local_history_give_the_same_report(reports):
    local, influx = reports
    assert [s.name for s in local.sites] == [s.name for s in influx.sites]
    for a, b in zip(local.sites, influx.sites, strict=True):
        assert a.uptime.row() == b.uptime.row()
        assert a.down.bandwidth.row() == b.down.bandwidth.row()
        assert a.down.office_minutes_above == b.down.office_minutes_above
        assert a.down.heat == b.down.heat
        assert a.quality.loss_while_up_pct == pytest.approx(b.quality.loss_while_up_pct)
        assert [v.key for v in a.verdicts] == [v.key for v in b.verdicts]


@pytest.mark.parametrize("backend", ["local", "influx", "victoria"])
def test_an_uplink_named_by_its_ifindex_gives_the_same_report(seeded, reports, tmp_path,
                                                              victoria_report, backend):
    """`uplink: "1"` (the ifIndex the demo gives every uplink) reads the same interface as
    `uplink: wan` (its ifName): heat map and office-hours minutes included, not only p95."""
    config, month, spool, root = seeded
    by_index = tmp_path / "config.yaml"
    by_index.write_text((root / "config.yaml").read_text(encoding="utf-8")
                        .replace("uplink: wan", 'uplink: "1"'), encoding="utf-8")
    indexed = load_config(by_index)
    assert {c.uplink.interface for c in indexed.checks.all if c.uplink} == {"1"}
    source = open_(backend, config, spool)
    report = build(indexed, source, Selection(month.since_ns, month.until_ns))
    named = {"local": reports[0], "influx": reports[1], "victoria": victoria_report}[backend]
    busy = _site(named, "quan-lan").down
    assert busy.office_minutes_above[0] > 0
    assert any(cell is not None for row in busy.heat.cells for cell in row)
    for a, b in zip(named.sites, report.sites, strict=True):
        for x, y in ((a.down, b.down), (a.up, b.up)):
            assert (x is None) == (y is None)
            if x is not None and y is not None:
                assert x.bandwidth.row() == y.bandwidth.row()
                assert x.office_minutes_above == y.office_minutes_above
                assert x.heat == y.heat


def test_victoria_metrics_gives_the_report_of_influxdb_number_for_number(reports,
                                                                       victoria_report):
    influx, vm = reports[1], victoria_report
    assert (vm.since_ns, vm.until_ns, vm.period_s) == (influx.since_ns, influx.until_ns,
                                                      influx.period_s)
    assert [s.name for s in vm.sites] == [s.name for s in influx.sites]
    for a, b in zip(influx.sites, vm.sites, strict=True):
        assert_same_rows([a.uptime.row()], [b.uptime.row()])
        assert_same_rows(_outages(a), _outages(b))
        for x, y in ((a.down, b.down), (a.up, b.up)):
            assert (x is None) == (y is None)
            if x is not None and y is not None:
                assert_same_rows([x.bandwidth.row()], [y.bandwidth.row()])
                assert x.office_minutes_above == y.office_minutes_above
                assert x.required_bps == y.required_bps
                assert _cells(x.heat) == pytest.approx(_cells(y.heat), rel=1e-9, nan_ok=True)
        assert (a.quality is None) == (b.quality is None)
        if a.quality is not None and b.quality is not None:
            assert_same_rows([x.row() for x in a.quality.latency],
                             [x.row() for x in b.quality.latency])
            assert a.quality.loss_while_up_pct == pytest.approx(b.quality.loss_while_up_pct,
                                                                rel=1e-9)
        assert [(v.key, v.severity) for v in a.verdicts] == [(v.key, v.severity)
                                                            for v in b.verdicts]
        assert a.score == pytest.approx(b.score, rel=1e-4)
    # the same numbers, rendered: the CSV tables match cell for cell
    a, b = _csv_tables(influx), _csv_tables(vm)
    assert sorted(a) == sorted(b)
    for name in a:
        assert a[name].splitlines() == b[name].splitlines(), name


def _outages(site):
    return [{"start": o.start_ns, "end": o.end_ns, "duration_s": o.duration_s,
             "charged_to": o.charged_to, "ended_by": o.ended_by} for o in site.outages]


def _cells(heat):
    return [float("nan") if c is None else c for row in heat.cells for c in row] if heat else []


def _csv_tables(report):
    import io

    body = render(report, lang="en", fmt="csv")
    with zipfile.ZipFile(io.BytesIO(body)) as zf:
        return {name: zf.read(name).decode() for name in zf.namelist()}


def test_verdicts_find_the_planted_truths(reports):
    report, _ = reports
    scenario = Scenario()
    saturating = _site(report, scenario.saturating)
    assert "uplink_full" in [v.key for v in saturating.verdicts]
    assert saturating.down.p95_util_pct > 80
    assert saturating.down.office_minutes_above[1] > 10 * 60
    healthy = _site(report, scenario.healthy)
    assert [v.key for v in healthy.verdicts] == ["ok"]
    cut = _site(report, scenario.long_outage[0])
    assert "availability_gap" in [v.key for v in cut.verdicts]
    assert any(o.duration_s >= 7 * 86400 - 600 for o in cut.outages)
    # the agent was down 36 hours: coverage drops by that, availability does not
    gap_pct = 100 * 36 * 3600 / report.period_s
    assert healthy.uptime.coverage_pct == pytest.approx(100 - gap_pct, abs=0.1)
    assert healthy.uptime.availability_pct > 99.9
    # minh-chau's failures while quan-lan was down are charged to quan-lan
    child = _site(report, "minh-chau")
    assert any(o.charged_to == "quan-lan" for o in child.outages)
    assert "capacity_short" in [v.key for v in child.verdicts]
    assert report.sites[-1].name != scenario.saturating


def _chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        unavailable("chromium not installed (apt install chromium)")
    return exe


def test_html_renders_offline_in_chromium(seeded, reports, tmp_path):
    exe = _chromium()
    html = render(reports[0], lang="vi", fmt="html").decode("utf-8")
    assert "http://" not in html and "https://" not in html
    assert "src=" not in html and "<link" not in html and "<script" not in html
    page = tmp_path / "report.html"
    page.write_text(html, encoding="utf-8")
    log = tmp_path / "chrome.log"
    dom = subprocess.run(
        [exe, *isolated_args(tmp_path / "profile"), "--enable-logging=stderr", "--v=0",
         "--dump-dom", page.as_uri()],
        capture_output=True, timeout=120, check=True)
    log.write_bytes(dom.stderr)
    text = dom.stdout.decode("utf-8")
    assert "Báo cáo chất lượng đường truyền" in text
    assert "Tóm tắt: các điểm xếp theo mức thiếu hụt" in text
    assert "quan-lan" in text and "Đường truyền đầy" in text
    assert "CONSOLE" not in dom.stderr.decode(errors="replace")
    artifacts = Path(os.environ.get("LINKWATCH_ARTIFACTS", tmp_path))
    artifacts.mkdir(parents=True, exist_ok=True)
    shot = artifacts / "report-first-page.png"
    subprocess.run([exe, *isolated_args(tmp_path / "profile2"), f"--screenshot={shot}",
                    "--window-size=1280,1800", page.as_uri()],
                   capture_output=True, timeout=120, check=True)
    assert shot.stat().st_size > 10_000


def test_numbers_are_formatted_for_the_language(reports):
    report = reports[0]
    healthy = _site(report, Scenario().healthy)
    vi = render(report, lang="vi", fmt="html").decode("utf-8")
    en = render(report, lang="en", fmt="html").decode("utf-8")
    value = healthy.uptime.availability_pct
    assert Lang("vi").pct(value) in vi and f"{value:.2f}%" in en
    assert "01/10/2026 – 31/10/2026" in vi and "2026-10-01 – 2026-10-31" in en
    assert "Link quality report" in en and "Báo cáo" not in en


def test_pdf_holds_the_same_names_and_numbers(seeded, reports, tmp_path):
    _chromium()
    if shutil.which("pdftotext") is None:
        unavailable("pdftotext not installed (apt install poppler-utils)")
    from linkwatch.agent.report.generate import write_report

    config, month, spool, _ = seeded
    out = tmp_path / "report.pdf"
    write_report(config, LocalBackend(spool), Selection(month.since_ns, month.until_ns),
                 lang="en", fmt="pdf", out=out)
    text = subprocess.run(["pdftotext", "-layout", str(out), "-"], capture_output=True,
                          check=True).stdout.decode("utf-8")
    report = reports[0]
    for site in report.sites:
        assert site.name in text
    lang = Lang("en")
    assert lang.pct(_site(report, "dong-xa").uptime.availability_pct) in text
    assert lang.rate(_site(report, "quan-lan").down.bandwidth.traffic.p95_bps) in text


def test_csv_is_one_table_per_section(reports, tmp_path):
    body = render(reports[0], lang="en", fmt="csv")
    path = tmp_path / "r.zip"
    path.write_bytes(body)
    with zipfile.ZipFile(path) as zf:
        names = set(zf.namelist())
        summary = zf.read("summary.csv").decode().splitlines()
    assert {"summary.csv", "availability.csv", "outages.csv", "bandwidth.csv", "heatmap.csv",
            "quality.csv", "verdicts.csv"} <= names
    assert summary[0].startswith("rank,site,severity,verdict,availability_pct")
    assert len(summary) == 1 + len(reports[0].sites)


def test_cli_writes_the_report(seeded, tmp_path):
    _, _, _, root = seeded
    out = tmp_path / "r.html"
    result = subprocess.run(
        [sys.executable, "-m", "linkwatch", "report", "-c", str(root / "config.yaml"),
         "--period", "2026-10", "--site", "quan-lan", "--site", "district-lan",
         "--lang", "en", "-o", str(out)],
        capture_output=True, text=True, cwd=Path(__file__).parents[2], check=False)
    assert result.returncode == 0, result.stderr
    html = out.read_text(encoding="utf-8")
    assert "quan-lan" in html and "cai-rong" not in html
    json.dumps(result.stdout)


class _CountingSpool:
    """The seeded spool, counting how often each measurement is read from disk."""

    def __init__(self, spool: Spool) -> None:
        self._spool = spool
        self.reads: dict[str, int] = {}

    def lines(self, measurement, *args, **kwargs):
        self.reads[measurement] = self.reads.get(measurement, 0) + 1
        return self._spool.lines(measurement, *args, **kwargs)

    def history(self, measurement, *args, **kwargs):
        self.reads[measurement] = self.reads.get(measurement, 0) + 1
        return self._spool.history(measurement, *args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._spool, name)


def test_a_report_from_the_local_history_reads_each_measurement_of_the_month_once(seeded,
                                                                                  reports):
    config, month, spool, _ = seeded
    counting = _CountingSpool(spool)
    report = build(config, LocalBackend(counting), Selection(month.since_ns, month.until_ns))
    # uptime, latency and loss share one reading of `ping`; bandwidth and the uplinks'
    # hours one of `interface`; and every other measurement is read once too
    assert counting.reads["ping"] == counting.reads["interface"] == 1
    assert all(n == 1 for n in counting.reads.values()), counting.reads
    assert [s.name for s in report.sites] == [s.name for s in reports[0].sites]
    assert [s.uptime for s in report.sites] == [s.uptime for s in reports[0].sites]


def test_cli_report_reads_the_store_it_is_told_to(seeded, tmp_path):
    _, _, _, root = seeded
    tables = {}
    for store in ("influxdb:report", "victoriametrics"):
        out = tmp_path / f"{store.replace(':', '-')}.zip"
        result = subprocess.run(
            [sys.executable, "-m", "linkwatch", "report", "-c", str(root / "config.yaml"),
             "--period", "2026-10", "--site", "quan-lan", "--output", store,
             "--format", "csv", "--lang", "en", "-o", str(out)],
            capture_output=True, text=True, cwd=Path(__file__).parents[2], check=False)
        assert result.returncode == 0, result.stderr
        with zipfile.ZipFile(out) as zf:
            tables[store] = {n: zf.read(n).decode() for n in zf.namelist()}
    assert tables["influxdb:report"] == tables["victoriametrics"]
