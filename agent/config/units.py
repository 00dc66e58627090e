"""Parsing `60s`, `256MiB` and `8Mbps` into the unit types of collector/units.py.

Every value needs its unit: a bare `60` could mean seconds or milliseconds, bytes or MiB,
so it is refused with a hint rather than guessed. Rates are decimal (1 Mbps = 10^6 bit/s),
as every network vendor counts them; sizes may be decimal (MB) or binary (MiB).
"""

from __future__ import annotations

import re

from linkwatch.collector.units import BitsPerSecond, Bytes, Seconds


class UnitError(ValueError):
    """A value that is not a valid duration, size or rate; `hint` tells how to write it."""

    def __init__(self, expected: str, hint: str) -> None:
        super().__init__(expected)
        self.expected = expected
        self.hint = hint


_NUMBER = r"(\d+(?:\.\d*)?|\.\d+)"

_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION_PART = re.compile(_NUMBER + r"\s*(ms|s|m|h|d)")
# words people write, so the hint can give the short form
_DURATION_WORDS = {
    "millisecond": "ms", "msec": "ms", "second": "s", "sec": "s", "minute": "m",
    "min": "m", "hour": "h", "hr": "h", "day": "d",
}

_SIZE_UNITS = {
    "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
    "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40,
}
_SIZE = re.compile(_NUMBER + r"\s*([kmgt]i?b|b)", re.IGNORECASE)

_RATE_PREFIXES = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12}
_PREFIX_SPELLING = {"": "", "k": "k", "m": "M", "g": "G", "t": "T"}
# `bps`, `b/s` and `bit/s`; a capital B means bytes and is refused with a hint
_RATE = re.compile(_NUMBER + r"\s*([kmgt]?)(bps|b/s|bit/s)", re.IGNORECASE)
_BYTE_RATE = re.compile(_NUMBER + r"\s*([kmgt]?)(Bps|B/s|byte/s|bytes/s)", re.IGNORECASE)


def parse_duration(text: str) -> Seconds:
    """`500ms`, `60s`, `5m`, `1h`, `30d`, or a sum such as `1h30m`.

    >>> parse_duration("1m30s")
    90.0
    """
    s = text.strip()
    expected = "a duration like 60s, 5m or 500ms"
    if s.startswith("-"):
        raise UnitError(expected, "a duration cannot be negative")
    pos, total = 0, 0.0
    for part in _DURATION_PART.finditer(s):
        if part.start() != pos:
            break
        total += float(part.group(1)) * _DURATION_UNITS[part.group(2)]
        pos = part.end()
    if pos == len(s) and s:
        return Seconds(total)
    raise UnitError(expected, _duration_hint(s))


def _duration_hint(s: str) -> str:
    if _is_number(s):
        return f"add a unit: {s}s for seconds (ms, s, m, h and d are known)"
    m = re.fullmatch(_NUMBER + r"\s*([a-zA-Z]+)", s)
    if m:
        word = m.group(2).lower().rstrip("s") or "s"
        unit = _DURATION_WORDS.get(word)
        if unit:
            return f"write {m.group(1)}{unit}"
    return "a number then a unit, no space needed: ms, s, m, h or d (e.g. 1h30m)"


def parse_size(text: str) -> Bytes:
    """`512KiB`, `256MiB`, `1GB` (MB = 10^6 bytes, MiB = 2^20 bytes)."""
    s = text.strip()
    m = _SIZE.fullmatch(s)
    if m:
        return Bytes(round(float(m.group(1)) * _SIZE_UNITS[m.group(2).lower()]))
    if s.startswith("-"):
        hint = "a size cannot be negative"
    elif _is_number(s):
        hint = f"add a unit: {s}B, or e.g. 256MiB (B, KB, MB, GB, KiB, MiB, GiB are known)"
    else:
        hint = "a number then a unit: B, KB, MB, GB, TB, KiB, MiB, GiB or TiB"
    raise UnitError("a size like 256MiB, 512KiB or 1GB", hint)


def parse_rate(text: str) -> BitsPerSecond:
    """`512kbps`, `8Mbps`, `1Gbps`: bits per second, decimal prefixes."""
    s = text.strip()
    m = _RATE.fullmatch(s)
    # `MBps` means megabytes: only a lower-case b is bits (`Mbps`, `mbps`, `Mb/s`)
    if m and not m.group(3).startswith("B"):
        return BitsPerSecond(float(m.group(1)) * _RATE_PREFIXES[m.group(2).lower()])
    expected = "a rate like 8Mbps, 512kbps or 1Gbps"
    byte_rate = _BYTE_RATE.fullmatch(s)
    if s.startswith("-"):
        hint = "a rate cannot be negative"
    elif byte_rate:
        bits = _trim(float(byte_rate.group(1)) * 8)
        prefix = _PREFIX_SPELLING[byte_rate.group(2).lower()]
        hint = f"rates are in bits per second: {s} is {bits}{prefix}bps"
    elif _is_number(s):
        hint = f"add a unit: {s}Mbps (bps, kbps, Mbps, Gbps are known)"
    else:
        hint = "a number then bps, kbps, Mbps or Gbps (1 Mbps = 1,000,000 bit/s)"
    raise UnitError(expected, hint)


def written(kind: type, value: object) -> str:
    """`value` as a config file writes a value of type `kind`: `60s`, `5m`, `256MiB`, `2Mbps`.

    >>> written(Bytes, 2**20)
    '1MiB'
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if not isinstance(value, int | float):
        return str(value)
    if issubclass(kind, Seconds):
        return _written_duration(float(value))
    if issubclass(kind, Bytes):
        return _written_with(int(value), ((2**40, "TiB"), (2**30, "GiB"), (2**20, "MiB"),
                                          (2**10, "KiB")), "B")
    if issubclass(kind, BitsPerSecond):
        return _written_with(value, ((10**12, "Tbps"), (10**9, "Gbps"), (10**6, "Mbps"),
                                     (10**3, "kbps")), "bps")
    return f"{value:g}" if isinstance(value, float) else str(value)


def _written_duration(seconds: float) -> str:
    if 0 < seconds < 1:
        return f"{seconds * 1000:g}ms"
    if seconds <= 60 or seconds % 60:
        return f"{seconds:g}s"
    for size, unit in ((86400, "d"), (3600, "h"), (60, "m")):
        if seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"


def _written_with(value: float, units: tuple[tuple[int, str], ...], base: str) -> str:
    """In the largest unit that holds the value exactly."""
    for size, unit in units:
        if value and value % size == 0:
            return f"{value / size:g}{unit}"
    return f"{value:g}{base}"


def _is_number(s: str) -> bool:
    return re.fullmatch(_NUMBER, s) is not None


def _trim(x: float) -> str:
    return str(int(x)) if x == int(x) else str(x)
