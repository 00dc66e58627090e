"""The report's words and formats: both languages complete, numbers and dates as each writes
them, verdicts from planted figures."""

from __future__ import annotations

import datetime as dt
import re
import string

import pytest

from linkwatch.agent.config.calendar import OfficeHours
from linkwatch.agent.config.schema import SiteRequirements
from linkwatch.agent.query.availability import Uptime
from linkwatch.agent.query.bandwidth import Bandwidth, Traffic
from linkwatch.agent.report.i18n import LANGS, STRINGS, Lang
from linkwatch.agent.report.model import DirectionReport
from linkwatch.agent.report.render_html import verdict_text
from linkwatch.agent.report.uplink_charts import heat_cells
from linkwatch.agent.report.verdicts import judge, recommended_bps


def _fields(text: str) -> set[str]:
    return {f for _, f, _, _ in string.Formatter().parse(text) if f}


def test_every_string_exists_in_both_languages_with_the_same_fields():
    for key, texts in STRINGS.items():
        assert set(texts) == set(LANGS), key
        assert all(texts[lang].strip() for lang in LANGS), key
        assert _fields(texts["vi"]) == _fields(texts["en"]), key


@pytest.mark.parametrize(("lang", "pct", "rate", "date"), [
    ("vi", "99,52 %", "7,6 Mbit/s", "12/10/2026"),
    ("en", "99.52%", "7.6 Mbit/s", "2026-10-12"),
])
def test_numbers_and_dates_follow_the_language(lang, pct, rate, date):
    x = Lang(lang)
    assert x.pct(99.5234) == pct
    assert x.rate(7.6e6) == rate
    assert x.date(dt.date(2026, 10, 12)) == date
    assert x.pct(None) == "—"


def test_durations_read_as_words():
    assert Lang("vi").duration(2 * 86400 + 3 * 3600 + 300) == "2 ngày 3 giờ 5 phút"
    assert Lang("en").duration(7 * 86400) == "7 d"


def _uptime(up_s, down_s, outages=1):
    return Uptime("s", None, 31 * 86400, up_s, down_s, 0.0, 31 * 86400 - up_s - down_s,
                  outages, 0, down_s, 1000)


def _direction(p95_bps, capacity, required=0.0, office=(0, 0)):
    t = Traffic("s", "r", "1", "wan", "wan", "in", 8000, p95_bps / 2, p95_bps, capacity,
                100 * p95_bps / capacity, (0, 0), 1e8)
    return DirectionReport("down", Bandwidth(t, 31 * 86400, capacity, True), office, required)


def test_a_full_uplink_is_a_gap_with_the_number_behind_it():
    req = SiteRequirements(video_conferences=2)
    d = _direction(7.6e6, 8e6, required=4e6, office=(48 * 60, 41 * 60))
    verdicts, score = judge(req, _uptime(31 * 86400 - 600, 600), d, None, None)
    full = next(v for v in verdicts if v.key == "uplink_full")
    text = verdict_text(full, Lang("en"))
    assert text.startswith("Uplink full: p95 download 7.6 Mbit/s of 8.0 Mbit/s (95%)")
    assert "41.0 h above 80%" in text
    assert recommended_bps(d, req) == 10e6      # 7.6 Mbit/s ÷ 0.8, rounded up
    assert score > 1000


def test_a_healthy_site_is_not_flagged():
    verdicts, score = judge(SiteRequirements(), _uptime(31 * 86400, 0, 0),
                            _direction(3e6, 20e6), None, None)
    assert [v.key for v in verdicts] == ["ok"]
    assert score == 0


def test_declared_conferences_beyond_capacity_are_a_capacity_gap():
    req = SiteRequirements(video_conferences=2, baseline_down=8e6)
    d = _direction(2e6, 8e6, required=12e6)
    verdicts, _ = judge(req, _uptime(31 * 86400, 0, 0), d, None, None)
    gap = next(v for v in verdicts if v.key == "capacity_short")
    assert "needs 12.0 Mbit/s download" in verdict_text(gap, Lang("en"))
    assert re.search(r"cần 12,0 Mbit/s", verdict_text(gap, Lang("vi")))


def test_office_hours_are_weekdays_local_time():
    hours = OfficeHours.parse("07:30-17:00")
    tz = dt.timezone(dt.timedelta(hours=7))
    assert hours.holds(dt.datetime(2026, 10, 12, 7, 30, tzinfo=tz))      # Monday
    assert not hours.holds(dt.datetime(2026, 10, 12, 17, 0, tzinfo=tz))
    assert not hours.holds(dt.datetime(2026, 10, 11, 10, 0, tzinfo=tz))  # Sunday
    with pytest.raises(ValueError, match="HH:MM-HH:MM"):
        OfficeHours.parse("8 to 5")


def test_hours_without_data_are_gaps_not_zero():
    tz = dt.timezone(dt.timedelta(hours=7))
    since = int(dt.datetime(2026, 10, 1, tzinfo=tz).timestamp()) * 10**9
    until = int(dt.datetime(2026, 11, 1, tzinfo=tz).timestamp()) * 10**9
    days, cells = heat_cells({since // 10**9 + 3600: 5e6}, 10e6, since, until, tz)
    assert len(days) == 31 and days[-1] == dt.date(2026, 10, 31)
    assert cells[0][1] == 50.0
    assert cells[0][2] is None and cells[30][23] is None
