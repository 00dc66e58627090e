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


# ------------------------------------------------------------------- time-zone edge cases

BERLIN = ZoneInfo("Europe/Berlin")   # a zone with summer time, to reach its two edges
LATER = 1_800_000_000 * 10**9        # 2027-01-15: the periods below are over by then


def _utc(text: str) -> int:
    return int(dt.datetime.fromisoformat(text).timestamp()) * 10**9


@pytest.fixture
def machine_zone(monkeypatch):
    """Set the zone of the machine running the command (TZ), restored afterwards."""
    import time

    def use(zone: str) -> None:
        monkeypatch.setenv("TZ", zone)
        time.tzset()

    yield use
    monkeypatch.undo()
    time.tzset()


@pytest.mark.parametrize("machine", ["UTC", "America/New_York", "Asia/Ho_Chi_Minh"])
def test_the_configured_zone_wins_over_the_machines(machine_zone, machine):
    machine_zone(machine)
    since = parse_instant("2026-10-01", tz=HCM, now_ns=NOW, option="--since")
    at_eight = parse_instant("2026-10-01T08:00", tz=HCM, now_ns=NOW, option="--since")
    assert since == _utc("2026-09-30T17:00:00+00:00")
    assert at_eight == _utc("2026-10-01T01:00:00+00:00")


@pytest.mark.parametrize(("machine", "midnight"), [
    ("UTC", "2026-10-01T00:00:00+00:00"),
    ("Asia/Ho_Chi_Minh", "2026-09-30T17:00:00+00:00"),
    ("America/New_York", "2026-10-01T04:00:00+00:00"),
])
def test_without_a_configured_zone_a_date_is_the_machines_midnight(machine_zone, machine,
                                                                   midnight):
    machine_zone(machine)
    assert parse_instant("2026-10-01", tz=None, now_ns=NOW, option="--since") == _utc(midnight)


def test_a_day_in_the_configured_zone_is_24_hours_and_ends_at_its_midnight():
    day = TimeRange.parse("2026-10-01", "2026-10-02", tz=HCM, now_ns=LATER)
    assert day.seconds == 86400
    assert iso(day.until_ns, HCM) == "2026-10-02T00:00:00+07:00"


def test_days_with_a_clock_change_are_23_and_25_hours_long():
    spring = TimeRange.parse("2026-03-29", "2026-03-30", tz=BERLIN, now_ns=LATER)
    autumn = TimeRange.parse("2026-10-25", "2026-10-26", tz=BERLIN, now_ns=LATER)
    assert (spring.seconds, autumn.seconds) == (23 * 3600, 25 * 3600)


def test_an_age_is_elapsed_time_even_across_a_clock_change():
    after_change = _utc("2026-03-29T12:00:00+00:00")
    assert parse_instant("1d", tz=BERLIN, now_ns=after_change,
                         option="--since") == after_change - 86400 * 10**9


def test_a_local_time_that_happens_twice_is_its_first_occurrence():
    # 02:30 on 2026-10-25 in Berlin is passed twice: in summer time (+02:00), then in
    # winter time (+01:00); the earlier one is meant
    twice = parse_instant("2026-10-25T02:30", tz=BERLIN, now_ns=NOW, option="--since")
    assert twice == _utc("2026-10-25T02:30:00+02:00")


def test_a_local_time_skipped_by_the_clock_is_read_with_the_offset_before_the_change():
    # 02:30 on 2026-03-29 in Berlin never happens (02:00 → 03:00); read with the winter
    # offset it is the instant clocks showed as 03:30
    skipped = parse_instant("2026-03-29T02:30", tz=BERLIN, now_ns=NOW, option="--since")
    assert skipped == _utc("2026-03-29T02:30:00+01:00")
    assert iso(skipped, BERLIN) == "2026-03-29T03:30:00+02:00"


@pytest.mark.parametrize("text", ["2026-10-01T00:00:00z", "2026-10-01T00:00:00.000Z",
                                  "2026-10-01T05:30:00+05:30", "2026-09-30T20:00:00-04:00"])
def test_every_spelling_of_an_offset_means_that_instant(text):
    assert parse_instant(text, tz=HCM, now_ns=NOW, option="--since") == _utc(
        "2026-10-01T00:00:00+00:00")
