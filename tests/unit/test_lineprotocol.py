"""Line protocol: what InfluxDB receives, and reading it back."""

import math

import pytest

from agent.lineprotocol import LineProtocolError, decode, encode
from collector.sample import Sample

NASTY = [
    "Ngọc Vừng",
    "Cô Tô, đảo",
    'say "hi"',
    "C:\\Windows\\System32",
    "a=b,c d",
    "tab\there",
    "ünïcödé 🚀",
]


def test_a_plain_point_is_written_as_influxdb_expects():
    s = Sample("ping", {"target": "gw", "agent": "a1"},
               {"up": 1, "loss_pct": 0.0, "ok": True, "note": "fine"}, 1_700_000_000_000_000_000)
    assert encode(s) == (b'ping,agent=a1,target=gw loss_pct=0.0,note="fine",ok=true,up=1i '
                         b"1700000000000000000")


def test_bool_is_written_as_true_false_not_as_an_integer():
    line = encode(Sample("m", {}, {"a": True, "b": False, "c": 1}, 1))
    assert line == b"m a=true,b=false,c=1i 1"
    assert decode(line).fields == {"a": True, "b": False, "c": 1}


@pytest.mark.parametrize("name", NASTY)
def test_nasty_names_round_trip_in_measurement_tags_and_fields(name):
    s = Sample(f"m {name}", {name: name, "site": name}, {name: name, "v": 1.5}, 42)
    back = decode(encode(s))
    assert back == Sample(f"m {name}", {name: name, "site": name}, {name: name, "v": 1.5}, 42)


@pytest.mark.parametrize("text", [
    'quote " inside', "backslash \\ inside", "ends with backslash \\", '\\"both\\"',
    "new\nline", "cr\r\nlf", "comma, equals= space ", "Ngọc Vừng\n", "",
])
def test_string_fields_round_trip_exactly(text):
    s = Sample("m", {"t": "x"}, {"s": text, "n": 1}, 7)
    assert decode(encode(s)).fields == {"s": text, "n": 1}


def test_escaping_follows_the_line_protocol_rules():
    s = Sample("a,b c", {"k,=1": "v ,=2"}, {"f =,": 'q"\\'}, 3)
    assert encode(s) == b'a\\,b\\ c,k\\,\\=1=v\\ \\,\\=2 f\\ \\=\\,="q\\"\\\\" 3'


def test_tags_are_sorted_and_empty_ones_left_out():
    line = encode(Sample("m", {"z": "1", "a": "2", "empty": ""}, {"v": 1}, 1))
    assert line == b"m,a=2,z=1 v=1i 1"


def test_floats_read_back_to_the_same_value():
    values = [0.1, 1e-300, 1.7976931348623157e308, -2.5e16, 123456789.123456789, 1 / 3]
    s = Sample("m", {}, {f"f{i}": v for i, v in enumerate(values)}, 1)
    back = decode(encode(s)).fields
    assert [back[f"f{i}"] for i in range(len(values))] == values


def test_nan_and_infinity_are_left_out_not_written_as_a_number():
    line = encode(Sample("m", {}, {"good": 1.0, "nan": math.nan, "inf": math.inf}, 1))
    assert line == b"m good=1.0 1"


def test_a_sample_with_nothing_writable_is_refused():
    with pytest.raises(LineProtocolError):
        encode(Sample("m", {}, {"nan": math.nan}, 1))


def test_an_integer_beyond_64_bits_is_refused():
    with pytest.raises(LineProtocolError, match="64-bit"):
        encode(Sample("m", {}, {"octets": 2**64}, 1))


def test_newline_in_a_tag_cannot_break_the_line():
    line = encode(Sample("m", {"alias": "two\nlines"}, {"v": 1}, 1))
    assert b"\n" not in line
    assert decode(line).tags == {"alias": "two\\nlines"}


def test_backslash_before_a_separator_is_dropped_so_the_line_still_parses():
    line = encode(Sample("m", {"path": "C:\\", "x": "a\\ b"}, {"v": 1}, 1))
    assert decode(line).tags == {"path": "C:", "x": "a b"}


def test_decode_reads_influxdb_boolean_and_unsigned_spellings():
    s = decode(b"m a=t,b=F,c=TRUE,d=12u,e=-3i,f=2 99")
    assert s.fields == {"a": True, "b": False, "c": True, "d": 12, "e": -3, "f": 2.0}


@pytest.mark.parametrize("bad", [b"m", b"m v=1i", b"m v=x 1", b'm v="open 1', b"m,t v=1 1",
                                 b"m v=1 soon"])
def test_decode_refuses_broken_lines(bad):
    with pytest.raises(LineProtocolError):
        decode(bad)
