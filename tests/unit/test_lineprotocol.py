"""Line protocol: what InfluxDB receives, and reading it back."""

import math
import random

import pytest

from linkwatch.agent.datamodel.lineprotocol import (
    Decoder,
    FieldReader,
    LineProtocolError,
    _decode_full,
    decode,
    encode,
)
from linkwatch.collector.sample import Sample

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
    "comma, equals= space ", "Ngọc Vừng", "",
])
def test_string_fields_round_trip_exactly(text):
    s = Sample("m", {"t": "x"}, {"s": text, "n": 1}, 7)
    assert decode(encode(s)).fields == {"s": text, "n": 1}


@pytest.mark.parametrize(("text", "stored"), [
    ("new\nline", "new\\nline"), ("cr\r\nlf", "cr\\r\\nlf"), ("Ngọc Vừng\n", "Ngọc Vừng\\n"),
    ('x" 1\nforged,site=other up=1i 1', 'x" 1\\nforged,site=other up=1i 1'),
])
def test_a_newline_in_a_string_field_is_written_as_text_and_never_ends_the_line(text, stored):
    line = encode(Sample("m", {"t": "x"}, {"s": text}, 7))
    assert b"\n" not in line and b"\r" not in line
    assert decode(line).fields == {"s": stored}


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


# ------------------------------------------------- the fast decoders agree with the full one

_PIECES = ["a", "site", "Ngọc Vừng", "🚀", "x=y", "a,b", "sp ace", 'q"uote', "back\\slash",
           "=", ",", " ", '"', "\\", "t", "T", "true", "FALSE", "f", "1", "-2", "i", "u"]
_VALUES = ["0", "1", "-1", "1.5", "-0.0", "1e5", "1E-3", ".5", "5.", "nan", "inf", "-Infinity",
           "1_000", "５", "12i", "-3i", "7u", "0i", "1_0i", "i", "u", "1.5i",
           "9999999999999999999i",
           "t", "T", "true", "True", "TRUE", "f", "F", "false", "False", "FALSE", "tru", "",
           "x", "+4", "1-2", "1=2", '"s"', '""', '"a,b c=d"', '"esc \\" q"', '"open', '"\\\\"',
           "1,2", "0x10", "١٢"]


_PLAIN = [p for p in _PIECES if "\\" not in p and '"' not in p]


def _random_line(rng, pieces: list[str], values: list[str]) -> str:
    """Well-formed or not, escaped or not: every kind of field and most ways to break one."""
    def token() -> str:
        return "".join(rng.choice(pieces) for _ in range(rng.randint(0, 2)))

    series = rng.choice(["ping", "interface", "m\\ x", "m\\,y", "", "#c", "ping", "ünï"])
    for _ in range(rng.randint(0, 3)):
        series += "," + token() + rng.choice(["=", "", "=="]) + token()
    fields = ",".join(token() + rng.choice(["=", "=", "=", ""]) + rng.choice(values)
                      for _ in range(rng.randint(0, 4)))
    ts = rng.choice(["1", "1790787602000000000", "-5", "", "x", "1.5", "١"])
    return rng.choice([" ", " ", "  "]).join([series, fields, ts])


def _plain_line(rng) -> str:
    """A line with no backslash or quote, valid or with one character changed."""
    names = [p for p in _PLAIN if p and not set(p) & set(", =")] + ["rtt_avg_ms", "up"]
    values = [v for v in _VALUES if v and not set(v) & set('",=')]
    tags = "".join(f",{rng.choice(names)}={rng.choice(names)}" for _ in range(rng.randint(0, 3)))
    fields = ",".join(f"{rng.choice(names)}={rng.choice(values)}"
                      for _ in range(rng.randint(1, 4)))
    line = f"{rng.choice(['ping', 'ünï', 'a-b'])}{tags} {fields} {rng.randint(-9, 2**63 - 1)}"
    if rng.random() < 0.3:
        at = rng.randrange(len(line))
        line = line[:at] + rng.choice([",", "=", " ", "", "i", ".", "x", "\\", '"']) + line[at + 1:]
    return line


def _outcome(read, line, keep=None):
    """What reading `line` gives, comparable with == (NaN included, types told apart)."""
    try:
        s = read(line)
    except LineProtocolError as e:
        return ("error", str(e))
    fields = [(k, type(v).__name__, repr(v)) for k, v in s.fields.items()
              if keep is None or k in keep]
    return ("ok", s.measurement, list(s.tags.items()), fields, s.time_ns)


def _random_sample(rng) -> Sample:
    values = [True, False, 0, -1, 2**63 - 1, -(2**63), 0.0, -0.0, 1.5, 1e300, 5e-324, "", "s",
              'q"uote', "back\\slash", "Ngọc Vừng", "a=b,c d", "new\nline"]
    return Sample(rng.choice(["ping", "a b", "c,d", "ünï"]),
                  {rng.choice(_PIECES): rng.choice(_PIECES) for _ in range(rng.randint(0, 3))},
                  {rng.choice(_PIECES) or "k": rng.choice(values)
                   for _ in range(rng.randint(1, 4))},
                  rng.randint(-(2**63), 2**63 - 1))


def _encoded(sample: Sample) -> str:
    try:
        return encode(sample).decode()
    except LineProtocolError:        # a name made only of what line protocol cannot write
        return "m v=1i 1"


@pytest.mark.parametrize("seed", range(4))
def test_fast_decoders_give_exactly_what_the_full_decoder_gives(seed):
    rng = random.Random(seed)
    lines = [_random_line(rng, _PIECES, _VALUES) for _ in range(3000)]
    # lines the fast path reads itself: no backslash or quote, mostly well-formed
    lines += [_plain_line(rng) for _ in range(6000)]
    lines += [_encoded(_random_sample(rng)) for _ in range(3000)]
    rng.shuffle(lines)
    # one Decoder over all lines: what it remembers from one line must not leak into another
    keep = {"up", "a", "site", "Ngọc Vừng"}
    shared, wanted, columns = Decoder(), Decoder(fields=keep), FieldReader(_KEEP)
    for line in lines:
        full = _outcome(_decode_full, line)
        for read in (decode, Decoder(), shared):
            assert _outcome(read, line.encode()) == full, line
        assert _outcome(wanted, line.encode()) == _outcome(_decode_full, line, keep), line
        assert _numbers(columns, line) == _numbers(_decode_full, line), line


def _numbers(read, line: str):
    """The numeric fields of `keep` a line holds, as FieldReader reads them (a boolean as 1
    or 0, NaN: absent or a string), with the tags; None for a line that is refused."""
    if isinstance(read, FieldReader):
        got = read(line.encode())
        return None if got is None else (dict(got[1]), [repr(v) for v in got[2]])
    try:
        s = read(line)
    except LineProtocolError:
        return None
    values = [s.fields.get(k) for k in _KEEP]
    return dict(s.tags), [repr(float(v)) if isinstance(v, int | float) else "nan"
                          for v in values]


_KEEP = ("up", "a", "site", "Ngọc Vừng")


def test_a_repeated_series_read_back_gives_each_sample_its_own_tags():
    read = Decoder()
    first, second = read(b"ping,site=a v=1i 1"), read(b"ping,site=a v=2i 2")
    first.tags["site"] = "changed"
    assert second.tags == {"site": "a"}
