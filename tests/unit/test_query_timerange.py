"""--since/--until: ages, dates in the config's zone, ISO 8601, and clear errors."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from linkwatch.agent.query.timerange import TimeRange, TimeRangeError, iso, parse_instant

NOW = 1_790_000_000 * 10**9
HCM = ZoneInfo("Asia/Ho_Chi_Minh")


@pytest.mark.parametrize(("text", "age_s"), [("24h", 86400), ("7d", 7 * 86400),
                                              ("90m", 5400), ("30s", 30), ("2w", 14 * 86400)])
def test_relative_ages_count_back_from_now(text, age_s):
    assert parse_instant(text, tz=HCM, now_ns=NOW, option="--since") == NOW - age_s * 10**9


def test_a_bare_date_is_midnight_in_the_configured_zone():
    got = parse_instant("2026-10-01", tz=HCM, now_ns=NOW, option="--since")
    assert iso(got) == "2026-09-30T17:00:00+00:00"


def test_an_offset_or_z_is_taken_as_given():
    z = parse_instant("2026-10-01T00:00:00Z", tz=HCM, now_ns=NOW, option="--since")
    plus = parse_instant("2026-10-01T07:00:00+07:00", tz=None, now_ns=NOW, option="--since")
    assert z == plus == int(dt.datetime(2026, 10, 1, tzinfo=dt.UTC).timestamp()) * 10**9


@pytest.mark.parametrize("text", ["yesterday", "7x", "-3d", "2026-13-01", "", "1d; DROP"])
def test_malformed_values_name_the_option_and_the_accepted_forms(text):
    with pytest.raises(TimeRangeError) as e:
        parse_instant(text, tz=HCM, now_ns=NOW, option="--since")
    assert "--since" in str(e.value) and "24h" in str(e.value)
    assert "2026-10-01T00:00:00Z" in str(e.value)


def test_an_empty_period_is_refused_and_until_stops_at_now():
    with pytest.raises(TimeRangeError, match="not before"):
        TimeRange.parse("1h", "2h", tz=HCM, now_ns=NOW)
    period = TimeRange.parse("1d", "2100-01-01", tz=HCM, now_ns=NOW)
    assert period.until_ns == NOW and period.seconds == 86400
