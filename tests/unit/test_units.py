"""Durations, sizes and rates as written in the config."""

import pytest

from linkwatch.agent.config.units import UnitError, parse_duration, parse_rate, parse_size


@pytest.mark.parametrize(("text", "seconds"), [
    ("500ms", 0.5), ("60s", 60), ("5m", 300), ("1h", 3600), ("30d", 30 * 86400),
    ("1h30m", 5400), ("1.5s", 1.5), ("0s", 0), (" 10s ", 10), ("2 m", 120),
])
def test_durations_parse(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(("text", "hint"), [
    ("5 minutes", "write 5m"),
    ("60", "add a unit: 60s"),
    ("-1s", "cannot be negative"),
    ("1 hour", "write 1h"),
    ("ten seconds", "a number then a unit"),
    ("", "a number then a unit"),
    ("5m30", "a number then a unit"),
    ("1y", "a number then a unit"),
])
def test_durations_refuse_garbage_with_a_hint(text: str, hint: str) -> None:
    with pytest.raises(UnitError) as caught:
        parse_duration(text)
    assert "a duration like 60s" in caught.value.expected
    assert hint in caught.value.hint


@pytest.mark.parametrize(("text", "size"), [
    ("256MiB", 256 * 2**20), ("512KiB", 512 * 1024), ("1GB", 10**9), ("1GiB", 2**30),
    ("100B", 100), ("1.5KiB", 1536), ("64mb", 64 * 10**6),
])
def test_sizes_parse(text: str, size: int) -> None:
    assert parse_size(text) == size
    assert isinstance(parse_size(text), int)


@pytest.mark.parametrize(("text", "hint"), [
    ("1000000", "add a unit"), ("-1MiB", "negative"), ("10MB/s", "a number then a unit"),
    ("lots", "a number then a unit"), ("256 megabytes", "a number then a unit"),
])
def test_sizes_refuse_garbage(text: str, hint: str) -> None:
    with pytest.raises(UnitError) as caught:
        parse_size(text)
    assert hint in caught.value.hint


@pytest.mark.parametrize(("text", "bps"), [
    ("8Mbps", 8e6), ("100Mbps", 100e6), ("1Gbps", 1e9), ("512kbps", 512e3),
    ("2.5Mbps", 2.5e6), ("64Kbps", 64e3), ("10 Mb/s", 10e6), ("100bps", 100),
    ("8mbps", 8e6), ("1Mbit/s", 1e6),
])
def test_rates_parse_decimal(text: str, bps: float) -> None:
    assert parse_rate(text) == pytest.approx(bps)


@pytest.mark.parametrize(("text", "hint"), [
    ("10MB/s", "10MB/s is 80Mbps"),
    ("1MBps", "1MBps is 8Mbps"),
    ("8", "add a unit: 8Mbps"),
    ("-8Mbps", "negative"),
    ("fast", "bps, kbps, Mbps or Gbps"),
    ("8MiBps", "bps, kbps, Mbps or Gbps"),
])
def test_rates_refuse_garbage(text: str, hint: str) -> None:
    with pytest.raises(UnitError) as caught:
        parse_rate(text)
    assert hint in caught.value.hint


def test_a_secret_never_shows_itself_however_it_is_printed_or_joined():
    import json

    from linkwatch.collector.units import Secret

    token = Secret("s3cr3t-token")
    shown = [repr(token), str(token), f"{token}", f"{token:>20}", f"{token!s:.3}",
             "%s" % (token,), "{:*^9}".format(token), str([token]),  # noqa: UP031, UP032
             str({"t": token})]
    assert all("s3cr3t" not in text for text in shown)
    for leak in (lambda: token + "x", lambda: "Token " + token, lambda: json.dumps(token),
                 lambda: json.dumps({"token": token}), lambda: token % ()):
        with pytest.raises(TypeError) as e:
            leak()
        assert "s3cr3t" not in str(e.value)
    assert token.reveal() == "s3cr3t-token"
    assert token == Secret("s3cr3t-token") and token != Secret("other") and not Secret("")
