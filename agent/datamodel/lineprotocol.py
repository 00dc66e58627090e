"""Sample ⇄ InfluxDB line protocol, byte for byte what InfluxDB 1.x and 2.x parse.

    encode(Sample("ping", {"target": "Ngoc Vung"}, {"up": 1, "loss_pct": 0.0}, 5))
    # b'ping,target=Ngoc\\ Vung loss_pct=0.0,up=1i 5'

Rules (InfluxDB's own, plus the choices where it leaves one):

- measurement: `,` and space escaped with a backslash; tag keys, tag values and field keys:
  `,`, `=` and space escaped. Tags are sorted by key (InfluxDB's preferred order, and it makes
  the series part of the line a stable key). A tag with an empty key or value is left out.
- string field values are quoted; `"` and `\\` inside are escaped. A newline or carriage
  return inside is written as the text `\\n` / `\\r` (an escaped backslash and a letter), so
  InfluxDB stores the two characters `\\n`. A raw newline would be legal for InfluxDB inside
  quotes, but victoria-metrics (and other readers of line protocol) end the line there and
  read the rest as a forged point: one point is one line, everywhere.
- ints get an `i` suffix, bools are `true`/`false` (bool is tested before int: Python's bool
  is an int), floats are written with `repr` so they read back to the same float. NaN and
  ±inf cannot be written in line protocol; such a field is left out (never a sentinel).
- Names cannot carry everything: a newline or carriage return in a name or tag value is
  written as the two characters `\\n` / `\\r` (as Telegraf does; InfluxDB keeps them so), and a
  backslash that ends a name or stands right before `,`, `=` or space is dropped, because
  line protocol has no way to write it. Text that is not valid Unicode (a lone surrogate)
  is written with U+FFFD in its place. Every other character round-trips exactly, and no
  line `encode` writes holds a CR or LF.
- two tags (or two fields) whose keys escape to the same text cannot both be written: such a
  sample is refused rather than written with one of them lost.
- the timestamp is the collection time in nanoseconds.

`decode` reads what `encode` writes (and any line protocol InfluxDB accepts) back into a Sample;
it unescapes exactly as InfluxDB does, so what it returns is what the server stores.
`decode_strict` reads only lines exactly as `encode` writes them (what an agent's spool
holds): it is the reader for lines that arrive from outside (`spool import`).
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Iterable, Mapping

from linkwatch.collector.sample import FieldValue, Sample

_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1

# A backslash at the end of a token or before a character we escape would merge with the
# escape and change where the token ends; line protocol cannot express it, so it goes.
_LONE_BACKSLASH_NAME = re.compile(r"\\+(?=[, ]|$)")
_LONE_BACKSLASH_TAG = re.compile(r"\\+(?=[,= ]|$)")
_NAME_ESCAPES = str.maketrans({",": "\\,", " ": "\\ ", "\n": "\\n", "\r": "\\r"})
_TAG_ESCAPES = str.maketrans({",": "\\,", "=": "\\=", " ": "\\ ", "\n": "\\n", "\r": "\\r"})
_NEEDS_ESCAPE = re.compile(r"[,= \\\n\r]")
_SURROGATE = re.compile("[\ud800-\udfff]")


class LineProtocolError(ValueError):
    """A sample that cannot be written as line protocol, or a line that cannot be read."""


# Names and tag values repeat every cycle; caching their escaped form halves encoding time.
@functools.lru_cache(maxsize=8192)
def _escape_measurement(name: str) -> str:
    if not _NEEDS_ESCAPE.search(name):
        return name
    return _LONE_BACKSLASH_NAME.sub("", name).translate(_NAME_ESCAPES)


@functools.lru_cache(maxsize=65536)
def _escape_tag(text: str) -> str:
    if not _NEEDS_ESCAPE.search(text):
        return text
    return _LONE_BACKSLASH_TAG.sub("", text).translate(_TAG_ESCAPES)


@functools.lru_cache(maxsize=8192)
def _key_order(keys: tuple[str, ...]) -> tuple[tuple[tuple[str, str], ...], bool]:
    """(key, key as written) sorted as written, and whether two keys are written alike.

    Sorted as written, not as given: escaping can change the order (a newline sorts before
    "0", the `\\n` it is written as after it), and a line must read back in the order it has.
    Keys that cannot be written (empty once escaped) are left out.
    """
    written = sorted((_escape_tag(k), k) for k in keys if k)
    order = tuple((k, e) for e, k in written if e)
    return order, len({e for _, e in order}) < len(order)


def encode_series(measurement: str, tags: Mapping[str, str]) -> bytes:
    """The series part of a line: `measurement,k1=v1,k2=v2` (tags sorted, empty ones left out).

    Two samples of the same series give the same bytes, so it serves as the series key.
    """
    name = _escape_measurement(measurement)
    if not name:
        raise LineProtocolError(f"measurement name {measurement!r} is empty")
    if name.startswith("#"):
        raise LineProtocolError(f"measurement name {measurement!r} starts with '#' "
                                "(line protocol reads that line as a comment)")
    order, collide = _key_order(tuple(tags))
    if collide:
        raise LineProtocolError(f"two tag keys of {measurement!r} are written alike: "
                                f"{sorted(tags)!r}")
    parts = [name]
    for key, k in order:
        value = tags[key]
        if value:
            v = _escape_tag(value)
            if v:
                parts.append(f"{k}={v}")
    try:
        return ",".join(parts).encode()
    except UnicodeEncodeError:      # a lone surrogate (bytes that were not UTF-8)
        valid = {_valid(k): _valid(v) for k, v in tags.items()}
        if len(valid) < len(tags):
            raise LineProtocolError(f"two tags of {measurement!r} differ only in text that "
                                    "is not valid Unicode") from None
        return encode_series(_valid(measurement), valid)


def _valid(text: str) -> str:
    """`text` with each lone surrogate replaced by U+FFFD, so it can be written as UTF-8."""
    return _SURROGATE.sub("\ufffd", text)


def _field_value(value: FieldValue) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        if not _INT64_MIN <= value <= _INT64_MAX:
            raise LineProtocolError(f"integer {value} is outside the 64-bit signed range")
        return f"{value}i"
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        return repr(value)
    if isinstance(value, str):
        text = value.replace("\\", "\\\\").replace('"', '\\"')
        if "\n" in text or "\r" in text:
            text = text.replace("\n", "\\\\n").replace("\r", "\\\\r")
        return '"' + text + '"'
    raise LineProtocolError(f"field value {value!r} is a {type(value).__name__}, "
                            "not int, float, str or bool")


def encode_fields(fields: Mapping[str, FieldValue]) -> bytes:
    """The field part of a line, keys sorted; raises LineProtocolError when nothing is left."""
    order, collide = _key_order(tuple(fields))
    if collide:
        raise LineProtocolError(f"two field keys are written alike: {sorted(fields)!r}")
    parts = []
    for key, k in order:
        text = _field_value(fields[key])
        if text is not None:
            parts.append(f"{k}={text}")
    if not parts:
        raise LineProtocolError(f"no field can be written (fields: {sorted(fields)})")
    try:
        return ",".join(parts).encode()
    except UnicodeEncodeError:      # a lone surrogate (bytes that were not UTF-8)
        valid = {_valid(k): _valid(v) if isinstance(v, str) else v for k, v in fields.items()}
        if len(valid) < len(fields):
            raise LineProtocolError("two fields differ only in text that is not valid "
                                    "Unicode") from None
        return encode_fields(valid)


def encode(sample: Sample) -> bytes:
    """One line of line protocol for `sample`, without a trailing newline."""
    return b"%s %s %d" % (encode_series(sample.measurement, sample.tags),
                          encode_fields(sample.fields), sample.time_ns)


# ---------------------------------------------------------------------------------- decoding

def _split_unescaped(text: str, sep: str) -> list[str]:
    """Split at `sep` not preceded by a backslash escape (a backslash escapes one character)."""
    if "\\" not in text:
        return text.split(sep)
    out, start, i, n = [], 0, 0, len(text)
    while i < n:
        c = text[i]
        if c == "\\":
            i += 2
            continue
        if c == sep:
            out.append(text[start:i])
            start = i + 1
        i += 1
    out.append(text[start:])
    return out


def _unescape_measurement(text: str) -> str:
    return text.replace("\\,", ",").replace("\\ ", " ") if "\\" in text else text


def _unescape_tag(text: str) -> str:
    if "\\" not in text:
        return text
    return text.replace("\\,", ",").replace("\\=", "=").replace("\\ ", " ")


def _unescape_string(text: str) -> str:
    if "\\" not in text:
        return text
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if c == "\\" and i + 1 < n and text[i + 1] in '"\\':
            out.append(text[i + 1])
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out)


_TRUE = frozenset({"t", "T", "true", "True", "TRUE"})
_FALSE = frozenset({"f", "F", "false", "False", "FALSE"})


def _parse_value(text: str, line: str) -> FieldValue:
    if text.startswith('"'):
        if not _is_closed_string(text):
            raise LineProtocolError(f"unterminated string field in {line!r}")
        return _unescape_string(text[1:-1])
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    try:
        if text.endswith(("i", "u")):
            return int(text[:-1])
        return float(text)
    except ValueError:
        raise LineProtocolError(f"bad field value {text!r} in {line!r}") from None


def _is_closed_string(text: str) -> bool:
    """Whether `text` is one quoted string: `"`, then no unescaped `"`, then a closing `"`."""
    i, n = 1, len(text)
    while i < n:
        c = text[i]
        if c == "\\":
            i += 2
            continue
        if c == '"':
            return i == n - 1
        i += 1
    return False


def _split_line(line: str) -> tuple[str, str, str]:
    """Series, fields and timestamp parts: the spaces outside escapes and string values."""
    i, n = 0, len(line)
    while i < n and line[i] != " ":
        i += 2 if line[i] == "\\" else 1
    series_end = end = i
    while end < n:
        end = _field_end(line, end + 1)
        if end >= n or line[end] == " ":
            break
    return line[:series_end], line[series_end + 1:end], line[end + 1:]


def _split_fields(text: str) -> list[str]:
    """Split fields at the commas outside escapes and string values."""
    if '"' not in text:
        return _split_unescaped(text, ",")
    out, start, n = [], 0, len(text)
    while True:
        end = _field_end(text, start)
        out.append(text[start:end])
        if end >= n:
            return out
        start = end + 1


def _field_end(text: str, i: int) -> int:
    """Where the field starting at `i` ends: the next comma or space outside escapes and
    string values (a quote opens a string only as the first character of a value)."""
    n, in_value = len(text), False
    while i < n:
        c = text[i]
        if c == "\\":
            i += 2
            continue
        if c == "=" and not in_value:
            in_value = True
            i += 1
            if i < n and text[i] == '"':
                i += 1
                while i < n and text[i] != '"':
                    i += 2 if text[i] == "\\" else 1
                i += 1
            continue
        if c in ", ":
            return i
        i += 1
    return n


def decode(line: bytes | str) -> Sample:
    """The Sample a line stands for; raises LineProtocolError on anything InfluxDB would reject.

    A line without a timestamp cannot be told apart from one sent at another time, so one is
    required here.
    """
    text = line.decode() if isinstance(line, bytes) else line
    if "\\" not in text and '"' not in text:
        sample = _decode_plain(text, None)
        if sample is not None:
            return sample
    return _decode_full(text)


def decode_strict(line: bytes) -> Sample:
    """The Sample of a line exactly as `encode` writes it, else LineProtocolError.

    For lines from outside: anything `encode` could not have written (another order of
    tags or fields, another spelling of a value, a CR or LF, bytes that are not UTF-8) is
    refused, so what is accepted is what the agent's own spool would hold.
    """
    try:
        text = line.decode()
    except UnicodeDecodeError as e:
        raise LineProtocolError(f"not UTF-8 text (byte {e.start})") from None
    sample = decode(text)
    if encode(sample) != line:
        raise LineProtocolError("not written as linkwatch writes a point (order of tags and "
                                "fields, spelling of values, escapes)")
    return sample


# Values repeat from line to line (0.0, 5i, 1i, ...); a decoder keeps this many converted.
_VALUE_CACHE = 65536


class Decoder:
    """`decode` for many lines in a row: about twice as fast on what `encode` writes.

    It remembers the series part (measurement and tags) and the short field values of the
    lines it has read, as they repeat from line to line; make one per batch of lines rather
    than keeping one for ever. Given `fields`, the samples hold only those of their fields;
    a line is still rejected when any of its fields is malformed, exactly as by `decode`.

        read = Decoder(fields={"up"})
        ups = [read(line).fields.get("up") for line in lines]
    """

    def __init__(self, *, fields: Iterable[str] | None = None) -> None:
        self._series: dict[str, tuple[str, dict[str, str]]] = {}
        self._values: dict[str, FieldValue] = {}
        self._wanted = None if fields is None else frozenset(fields)

    def __call__(self, line: bytes | str) -> Sample:
        text = line.decode() if isinstance(line, bytes) else line
        if "\\" not in text and '"' not in text:
            sample = _decode_plain(text, self._series, self._values, self._wanted)
            if sample is not None:
                return sample
        sample = _decode_full(text)
        if self._wanted is None:
            return sample
        return Sample(sample.measurement, sample.tags,
                      {k: v for k, v in sample.fields.items() if k in self._wanted},
                      sample.time_ns)


class FieldReader:
    """Bulk reading of lines into numbers: each line's series (as written, a stable key),
    its tags, and the chosen fields as floats (a boolean as 1 or 0; NaN where a line lacks
    the field or holds a string there). About three times as fast as Decoder, for reading a month
    of history into columns. A line `decode` refuses gives None.

        read = FieldReader(("up", "rtt_avg_ms"))
        series, tags, (up, rtt) = read(b"ping,target=gw up=1i,rtt_avg_ms=0.5 1")
    """

    def __init__(self, fields: Iterable[str]) -> None:
        self._slot = {name: i for i, name in enumerate(fields)}
        self._empty = [math.nan] * len(self._slot)
        self._series: dict[str, dict[str, str]] = {}
        self._values: dict[str, float | None] = {}

    def __call__(self, line: bytes) -> tuple[str, Mapping[str, str], list[float]] | None:
        """(series, tags, values) of a line, or None when it is no valid line."""
        try:
            text = line.decode()
        except UnicodeDecodeError:
            return None
        parts = text.split(" ")
        if "\\" in text or '"' in text or len(parts) != 3 or not _is_integer(parts[2]):
            return self._slowly(text)
        series, fields_part, _ts = parts
        tags = self._series.get(series)
        if tags is None:
            known = _decode_plain(text, None)
            if known is None:
                return self._slowly(text)
            tags = self._series[series] = dict(known.tags)
        values = self._empty.copy()
        slot, cache = self._slot, self._values
        for part in fields_part.split(","):
            key, eq, raw = part.partition("=")
            if not key or not eq:
                return self._slowly(text)
            if raw in cache:
                number = cache[raw]
            else:
                number = _number(raw)
                if len(cache) < _VALUE_CACHE:
                    cache[raw] = number
            if number is None:
                return self._slowly(text)
            at = slot.get(key)
            if at is not None:
                values[at] = number
        return series, tags, values

    def _slowly(self, text: str) -> tuple[str, Mapping[str, str], list[float]] | None:
        try:
            sample = _decode_full(text)
        except LineProtocolError:
            return None
        values = self._empty.copy()
        for key, value in sample.fields.items():
            at = self._slot.get(key)
            if at is not None and isinstance(value, int | float):   # a boolean is 1 or 0
                values[at] = float(value)
        try:
            series = encode_series(sample.measurement, sample.tags).decode()
        except LineProtocolError:     # read, but not written so by linkwatch (e.g. `#m`)
            series = repr((sample.measurement, sorted(sample.tags.items())))
        return series, sample.tags, values


def _is_integer(text: str) -> bool:
    try:
        int(text)
    except ValueError:
        return False
    return True


def _number(raw: str) -> float | None:
    """A plain field value as a float (a boolean as 1 or 0); None when it is malformed."""
    if not raw:
        return None
    try:
        if raw[-1] in "iu":
            return float(int(raw[:-1]))
        if raw in _TRUE:
            return 1.0
        if raw in _FALSE:
            return 0.0
        return float(raw)
    except ValueError:
        return None


def _decode_plain(text: str, seen: dict[str, tuple[str, dict[str, str]]] | None,
                  values: dict[str, FieldValue] | None = None,
                  wanted: frozenset[str] | None = None) -> Sample | None:
    """`_decode_full` for a line without backslash or quote, or None when unsure.

    Such a line splits on plain characters; anything out of the ordinary (a bad tag, field,
    value or timestamp) returns None, so the full decoder reads it and raises its own error.
    Values are converted by the same int() and float() calls, so results are identical.
    Every value is converted (or found in `values`) even when not `wanted`: that is what
    checks it.
    """
    parts = text.split(" ")
    if len(parts) != 3:
        return None
    series, fields_part, ts = parts
    if not series or not fields_part or not ts:
        return None
    known = seen.get(series) if seen is not None else None
    if known is None:
        head, *tag_parts = series.split(",")
        tag_map: dict[str, str] = {}
        for part in tag_parts:
            key, eq, value = part.partition("=")
            if not key or not eq or not value or "=" in value:
                return None
            tag_map[key] = value
        known = (head, tag_map)
        if seen is not None:
            seen[series] = known
    if values is None:
        values = {}
    fields: dict[str, FieldValue] = {}
    try:
        for part in fields_part.split(","):
            key, eq, value = part.partition("=")
            if not key or not eq:
                return None
            converted = values.get(value)
            if converted is None:
                if value[-1] in "iu":
                    converted = int(value[:-1])
                elif value in _TRUE:
                    converted = True
                elif value in _FALSE:
                    converted = False
                else:
                    converted = float(value)
                if len(values) < _VALUE_CACHE:
                    values[value] = converted
            if wanted is None or key in wanted:
                fields[key] = converted
        time_ns = int(ts)
    except (ValueError, IndexError):
        return None
    return Sample(known[0], dict(known[1]), fields, time_ns)


def _decode_full(text: str) -> Sample:
    """The general decoder: escapes and quoted strings anywhere."""
    if "\\" not in text and '"' not in text:
        parts = text.split(" ")
        if len(parts) != 3:
            raise LineProtocolError(f"expected 'series fields timestamp' in {text!r}")
        series, fields_part, ts = parts
    else:
        series, fields_part, ts = _split_line(text)
    if not series or not fields_part or not ts:
        raise LineProtocolError(f"expected 'series fields timestamp' in {text!r}")
    head, *tag_parts = _split_unescaped(series, ",")
    tags: dict[str, str] = {}
    for part in tag_parts:
        kv = _split_unescaped(part, "=")
        if len(kv) != 2 or not kv[0] or not kv[1]:
            raise LineProtocolError(f"bad tag {part!r} in {text!r}")
        tags[_unescape_tag(kv[0])] = _unescape_tag(kv[1])
    fields: dict[str, FieldValue] = {}
    for part in _split_fields(fields_part):
        # the key ends at the first unescaped '='; a string value may hold more of them
        key_end = _split_unescaped(part, "=")[0]
        if len(key_end) == len(part) or not key_end:
            raise LineProtocolError(f"bad field {part!r} in {text!r}")
        fields[_unescape_tag(key_end)] = _parse_value(part[len(key_end) + 1:], text)
    try:
        time_ns = int(ts)
    except ValueError:
        raise LineProtocolError(f"bad timestamp {ts!r} in {text!r}") from None
    return Sample(_unescape_measurement(head), tags, fields, time_ns)
