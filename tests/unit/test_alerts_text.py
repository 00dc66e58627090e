"""The words of alerts (both languages, the same keys), SMS parts, maintenance windows in
the config's time zone, the `for` key, the `alert` points' table, and the spool's
migration."""

from __future__ import annotations

import dataclasses
import datetime as dt
import sqlite3
import textwrap
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from linkwatch.agent.alerts.event import Event, Subject
from linkwatch.agent.alerts.messages import STRINGS, TITLES, Words, sms_parts
from linkwatch.agent.config import ConfigError, load_config
from linkwatch.agent.config.maintenance import MaintenanceWindow, windows_for
from linkwatch.agent.query.availability import analyse
from linkwatch.agent.query.states import UpSeries, events_of

REPO = Path(__file__).resolve().parents[2]
VN = ZoneInfo("Asia/Ho_Chi_Minh")
S = 10**9


def test_both_languages_have_every_word() -> None:
    for table in (STRINGS, TITLES):
        for key, words in table.items():
            assert set(words) == {"vi", "en"}, key
            assert all(words.values()), key


def event(**changes) -> Event:
    base = Event("target_down", "critical", "firing",
                 Subject("target_down", "ping", "minh-chau-router", "minh-chau"), "district",
                 since_ns=int(dt.datetime(2026, 12, 5, 10, 2, tzinfo=VN).timestamp()) * S,
                 at_ns=int(dt.datetime(2026, 12, 5, 12, 7, tzinfo=VN).timestamp()) * S,
                 cut_off=(("quan-lan", "quan-lan-router"), ("ngoc-vung", "ngoc-vung-radio")))
    return dataclasses.replace(base, **changes)


def test_a_message_says_what_since_when_and_what_it_cuts_off() -> None:
    vi, en = Words("vi", VN), Words("en", VN)
    assert vi.text(event()) == (
        "MẤT KẾT NỐI: minh-chau-router (minh-chau) không phản hồi ping từ 05/12/2026 10:02 "
        "(2 giờ 5 phút). Bị cắt theo: 2 đối tượng ở ngoc-vung, quan-lan: quan-lan-router, "
        "ngoc-vung-radio.")
    assert en.text(event()) == (
        "DOWN: minh-chau-router (minh-chau) does not answer ping since 2026-12-05 10:02 "
        "(2 h 5 min). Cut off behind it: 2 targets at ngoc-vung, quan-lan: quan-lan-router, "
        "ngoc-vung-radio.")
    assert en.text(event(state="resolved")).startswith(
        "RESOLVED — DOWN: minh-chau-router (minh-chau), after 2 h 5 min")
    assert vi.short(event()) == "MẤT KẾT NỐI: minh-chau-router (minh-chau) từ 10:02 05/12; " \
                                "+2 bị cắt"


def test_an_event_survives_the_spool_as_json() -> None:
    e = event(value=93.5, limit=90.0, unit="%", reason="parent hub", changes=7)
    assert Event.from_json(e.to_json()) == e


@pytest.mark.parametrize("text", [
    "MẤT KẾT NỐI: minh-chau-router (minh-chau) từ 10:02 05/12",
    "MẤT KẾT NỐI: " + " ".join(["ngoc-vung-router"] * 12) + " hết",
    "CẢNH BÁO 🚨 đường truyền quá tải: " + "x" * 300,
])
def test_sms_parts_fit_ucs2(text: str) -> None:
    parts = sms_parts(text, max_parts=3)
    assert all(len(p) <= 70 for p in parts)
    assert all(ord(c) <= 0xFFFF for p in parts for c in p)
    assert len(parts) <= 3
    if len(parts) > 1:
        assert [p.rsplit("(", 1)[1] for p in parts] == [f"{i}/{len(parts)})"
                                                        for i in range(1, len(parts) + 1)]
        shown = "".join(c if ord(c) <= 0xFFFF else "?" for c in text)   # outside UCS-2
        assert "".join(p.rsplit(" (", 1)[0] for p in parts).replace(" ", "")[:40] == \
            shown.replace(" ", "")[:40]


def test_a_recurring_window_crosses_midnight_in_the_config_zone() -> None:
    window = MaintenanceWindow(name="night", days=("sat",), hours="23:30-00:30")
    start = int(dt.datetime(2026, 12, 5, tzinfo=VN).timestamp()) * S       # a Saturday
    spans = window.spans(start, start + 3 * 86400 * S, VN)
    assert [(dt.datetime.fromtimestamp(a / S, VN).strftime("%a %H:%M"),
             (b - a) // (60 * S)) for a, b in spans] == [("Sat 23:30", 60)]


def test_a_window_covers_its_sites_and_checks_only() -> None:
    one = MaintenanceWindow(start="2026-12-05 08:00", end="2026-12-05 12:00",
                            sites=("ngoc-vung",))
    since = int(dt.datetime(2026, 12, 5, tzinfo=VN).timestamp()) * S
    until = since + 86400 * S
    assert windows_for([one], "ngoc-vung", "r", since, until, VN) == [
        (since + 8 * 3600 * S, since + 12 * 3600 * S)]
    assert windows_for([one], "quan-lan", "r", since, until, VN) == []


@pytest.mark.parametrize("fields, message", [
    ({"hours": "02:00-04:00", "start": "2026-12-05 08:00"}, "not both"),
    ({"start": "2026-12-05 08:00"}, "needs both start and end"),
    ({"start": "2026-12-05 10:00", "end": "2026-12-05 08:00"}, "not after its start"),
    ({"hours": "2-4"}, "write HH:MM-HH:MM"),
    ({"hours": "02:00-04:00", "days": ("sunday", "funday")}, "unknown day 'funday'"),
    ({}, "needs start and end"),
])
def test_a_window_that_cannot_be_read_says_how_to_write_it(fields, message) -> None:
    with pytest.raises(ValueError, match=message):
        MaintenanceWindow(**fields)


def test_maintenance_is_left_out_of_availability_and_cuts_an_outage() -> None:
    """Ten one-minute cycles down in the middle of an hour, the first six in a window."""
    step = 60 * S
    times = [i * step for i in range(60)]
    ups = [0 if 20 <= i < 30 else 1 for i in range(60)]
    series = UpSeries("s", "t", 60.0, 60, sum(ups), 0, 1, times[-1], 1,
                      tuple(events_of(times, ups, step)))
    window = [(20 * step, 26 * step)]
    report = analyse([series], parents={}, period_ns=(0, 60 * step),
                     maintenance=lambda site, target: window)
    (row,) = report.targets
    assert (row.maintenance_s, row.down_s, row.up_s) == (360, 240, 50 * 60)
    assert row.availability_pct == pytest.approx(100 * 50 / 54)
    assert row.coverage_pct == pytest.approx(100.0)
    (outage,) = report.outages
    assert (outage.start_ns, outage.end_ns, outage.cycles) == (26 * step, 30 * step, 4)
    plain = analyse([series], parents={}, period_ns=(0, 60 * step))
    assert (plain.targets[0].maintenance_s, plain.targets[0].down_s) == (0, 600)


# -- config ---------------------------------------------------------------------------------

def test_for_is_written_for(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(textwrap.dedent("""\
        agent: {name: a, site: s}
        alerts:
          rules:
            quality: {for_: 5m}
            link_saturated: {for: 0s}
        """))
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    text = str(raised.value)
    assert "alerts.rules.quality.for_: unknown key 'for_'" in text
    assert "hint: did you mean 'for'?" in text
    assert "alerts.rules.link_saturated.for: for must be more than zero, got 0s" in text


def test_a_version_1_spool_is_brought_up_to_date_with_its_queue(tmp_path: Path) -> None:
    from linkwatch.agent.spool import Spool
    from linkwatch.agent.spool._schema import _DDL

    path = tmp_path / "spool.db"
    conn = sqlite3.connect(path)
    conn.executescript(_DDL)
    conn.execute("INSERT INTO output (name, created_ns) VALUES ('influx', 0)")
    conn.execute("INSERT INTO point (time_ns, measurement, line) VALUES (1, 'ping', "
                 "CAST('ping,target=t up=1i 1' AS BLOB))")
    conn.execute("INSERT INTO queue VALUES (1, 1)")
    conn.execute("PRAGMA user_version=1")
    conn.commit()
    conn.close()
    spool = Spool.open(path, max_size=2**20 * 8, history_s=3600, outputs=["influx"])
    try:
        assert spool.next_batch("influx", 10).lines == (b"ping,target=t up=1i 1",)
        assert spool.alerts() == [] and spool.channel_stats() == []
    finally:
        spool.close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 2


def test_alert_points_hold_to_the_data_model() -> None:
    from linkwatch.agent.datamodel.measurements import data_model
    from linkwatch.collector.metrics import EVERY
    from tests.contract.breaches import assert_holds

    points = [event().point("m"),
              event(value=93.5, limit=90.0, unit="%", subject=Subject(
                  "link_saturated", "uplink", "core", "lan", "ge-0/0/1", "in")).point("m"),
              event(subject=Subject("agent_silent", "agent", "hub-agent", "hub")).point("m"),
              event(subject=Subject("backlog", "self", "district", "lan"),
                    state="resolved").point("m")]
    assert_holds(points, data_model(), ["alert", EVERY])
