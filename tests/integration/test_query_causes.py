"""Why each outage happened, on a day with a known answer (tests/fixtures/power_radio_day.py),
from a real InfluxDB 1.6.7, a real victoria-metrics and the local history: a power cut (UPS on
battery, then the site down), a radio fade before an outage, and a plain link cut. `outages`,
`power`, `radio` and the report must name each cause, and every backend must give the same
rows."""

from __future__ import annotations

import gzip
import json
import urllib.request
import zoneinfo

import pytest
from click.testing import CliRunner

from linkwatch.agent.cli import main
from linkwatch.agent.config import load_config
from linkwatch.agent.datamodel.lineprotocol import encode
from linkwatch.agent.query import answers
from linkwatch.agent.query.influx import InfluxBackend
from linkwatch.agent.query.local import LocalBackend
from linkwatch.agent.query.selection import Selection
from linkwatch.agent.query.timerange import iso
from linkwatch.agent.query.victoria import VictoriaBackend
from linkwatch.agent.report.collect import build
from linkwatch.agent.report.generate import render
from linkwatch.agent.report.i18n import Lang
from linkwatch.agent.report.render_html import verdict_text
from linkwatch.agent.spool import Spool
from tests.fixtures import power_radio_day as day
from tests.integration.rows import assert_same_rows

pytestmark = pytest.mark.integration

SEL = Selection(day.T0, day.UNTIL)
SINCE, UNTIL = "2026-10-05T00:00:00Z", "2026-10-06T00:00:00Z"


@pytest.fixture(scope="module")
def seeded(influxdb, victoria_alone, tmp_path_factory):
    root = tmp_path_factory.mktemp("causes")
    db = "causes_day"
    if not influxdb.running:
        influxdb.start()
    influxdb.create_database(db)
    data = day.samples()
    body = gzip.compress(b"\n".join(encode(s) for s in data))
    request = urllib.request.Request(f"{influxdb.url}/write?db={db}", data=body,
                                     headers={"Content-Encoding": "gzip"}, method="POST")
    with urllib.request.urlopen(request, timeout=60) as response:
        assert response.status == 204
    victoria_alone.write([encode(s) for s in data])
    victoria_alone.write([encode(s) for s in data[:40]])     # resent: counted once
    config = load_config(day.write_config(root, influx_url=influxdb.url, database=db,
                                          victoria_url=victoria_alone.url))
    spool = Spool.open(config.agent.spool.path, max_size=2**28, history_s=3650 * 86400,
                       outputs=[])
    spool.append(data)
    spool.append(data[:40])          # resent after a crash: counted once
    yield config, spool
    spool.close()
    influxdb.drop_database(db)


@pytest.fixture(scope="module")
def answered(seeded):
    config, spool = seeded
    found = {}
    for name, backend in (("influx", InfluxBackend(config.outputs[0])),
                          ("local", LocalBackend(spool)),
                          ("victoria", VictoriaBackend(config.outputs[1]))):
        found[name] = {
            "outages": answers.outages(config, backend, SEL, tz=config.tz),
            "power": answers.power_rows(config, backend, SEL),
            "radio": answers.radio_rows(config, backend, SEL),
            "report": build(config, backend, SEL),
        }
    return found


@pytest.fixture(params=["influx", "local", "victoria"])
def rows_of(request, answered):
    return answered[request.param]


def _at(m: int) -> str:
    """Minute `m` of the day as the rows show it, in the config's zone."""
    return iso(day.minute(m), zoneinfo.ZoneInfo("Asia/Ho_Chi_Minh"))


def test_each_outage_has_its_cause_and_its_evidence(rows_of):
    rows = {(r["target"], r["start"]): r for r in rows_of["outages"]}
    assert len(rows) == 3
    power = rows[("quan-lan-router", _at(360))]
    assert (power["cause"], power["end"], power["duration_s"]) == ("power", _at(420), 3600)
    # the power event: on battery from 300, then silent with the site from 360 to 420
    assert power["evidence"] == (
        f"power: quan-lan-ups on battery from {_at(300)} to {_at(360)} (quan-lan); "
        f"power: quan-lan-ups silent with the site after running on battery from {_at(360)} "
        f"to {_at(420)} (quan-lan)")
    fade = rows[("minh-chau-router", _at(720))]
    assert fade["cause"] == "radio"
    # degraded from 700; the evidence is what falls in the 15 minutes before 720
    assert fade["evidence"] == (f"radio: minh-chau-radio radio=1 signal -78.0 dBm below -75 dBm "
                                f"from {_at(705)} to {_at(720)} (minh-chau)")
    cut = rows[("quan-lan-router", _at(1000))]
    # the UPS fell silent too, but on mains: what a cut link looks like, not a power cut
    assert (cut["cause"], cut["evidence"]) == ("link", None)


def test_power_per_site(rows_of):
    [row] = rows_of["power"]
    assert row == {"site": "quan-lan", "devices": "quan-lan-ups", "minutes_on_battery": 90.0,
                   "power_events": 2, "longest_on_battery_min": 60.0,
                   "lowest_charge_pct": 11.5, "ran_flat": 1, "minutes_silent": 60.0}


def test_radio_per_link(rows_of):
    rows = {r["device"]: r for r in rows_of["radio"]}
    fade = rows["minh-chau-radio"]
    assert (fade["link"], fade["minutes_degraded"], fade["signal_worst_dbm"]) == (
        "radio=1", 20, -78.0)
    assert (fade["signal_median_dbm"], fade["floor_dbm"], fade["windows"]) == (-62.0, -75.0,
                                                                               282)
    steady = rows["quan-lan-radio"]
    assert (steady["minutes_degraded"], steady["signal_worst_dbm"]) == (0, -62.0)
    assert steady["signal_median_dbm"] == -61.0 and steady["noise_median_dbm"] == -96.0


def test_the_report_splits_downtime_by_cause_and_names_the_remedy(rows_of):
    report = rows_of["report"]
    sites = {s.name: s for s in report.sites}
    quan_lan, minh_chau = sites["quan-lan"], sites["minh-chau"]
    assert quan_lan.split.seconds == {"power": 3600.0, "radio": 0.0, "link": 1800.0}
    assert minh_chau.split.seconds == {"power": 0.0, "radio": 1800.0, "link": 0.0}
    keys = {s.name: [v.key for v in s.verdicts] for s in report.sites}
    assert keys["quan-lan"] == ["availability_gap", "power_remedy", "link_remedy"]
    assert keys["minh-chau"] == ["availability_gap", "radio_remedy"]
    power = next(v for v in quan_lan.verdicts if v.key == "power_remedy")
    assert verdict_text(power, Lang("en")) == (
        "Power: 1 h of the 1 h 30 min downtime were power cuts; battery run flat: 1 "
        "→ a larger battery or solar.")
    assert verdict_text(power, Lang("vi")).startswith(
        "Điện: 1 giờ trong tổng 1 giờ 30 phút gián đoạn là do mất điện; ắc quy UPS cạn 1 lần")
    radio = next(v for v in minh_chau.verdicts if v.key == "radio_remedy")
    assert "signal below -75 dBm for 1.4% of the time measured" in verdict_text(radio,
                                                                              Lang("en"))
    html = render(report, lang="en", fmt="html").decode()
    for text in ("Downtime by cause", "power cut", "radio fade", "Time on battery",
                 "Hours on battery per day", "dashed line: the -75 dBm floor",
                 "Outage cause: power when"):
        assert text in html, text


def test_every_backend_gives_the_same_rows(answered):
    for verb in ("outages", "power", "radio"):
        assert answered["influx"][verb] == answered["local"][verb], verb
        assert_same_rows(answered["local"][verb], answered["victoria"][verb])
    for other in ("influx", "victoria"):
        a, b = answered[other]["report"], answered["local"]["report"]
        for x, y in zip(a.sites, b.sites, strict=True):
            assert (x.name, x.split, x.causes, x.power) == (y.name, y.split, y.causes,
                                                            y.power)
            assert_same_rows([r.row() for r in x.radio], [r.row() for r in y.radio])
            assert [v.key for v in x.verdicts] == [v.key for v in y.verdicts]


@pytest.mark.parametrize("store", [[], ["--local"], ["--output", "vm"]],
                         ids=["influx", "local", "victoria"])
def test_the_cli_verbs_print_the_causes(seeded, store):
    config, _ = seeded
    runner = CliRunner()
    period = ["-c", str(config.source), "--since", SINCE, "--until", UNTIL, *store]
    outages = runner.invoke(main, ["outages", *period, "--format", "json"])
    assert outages.exit_code == 0, outages.output
    assert [r["cause"] for r in json.loads(outages.stdout)] == ["power", "radio", "link"]
    table = runner.invoke(main, ["outages", *period])
    assert "CAUSE" in table.stdout.splitlines()[0]
    power = runner.invoke(main, ["power", *period, "--site", "quan-lan", "--format", "json"])
    assert power.exit_code == 0, power.output
    assert json.loads(power.stdout)[0]["minutes_on_battery"] == 90.0
    radio = runner.invoke(main, ["radio", *period, "--device", "minh-chau-radio",
                                 "--format", "csv"])
    assert radio.exit_code == 0, radio.output
    header, line = radio.stdout.splitlines()
    assert header.startswith("site,device,link,signal_median_dbm")
    assert line.endswith(",20")              # minutes_degraded, the last column
    nothing = runner.invoke(main, ["power", *period, "--site", "minh-chau"])
    assert nothing.exit_code == 1            # no UPS there: nothing matched
