"""Which values a device may send for a field: SMI ranges (RFC 2578) and what a line-protocol
field holds. Pure. A value outside its range is never written: its field is left out (the
rest of the sample stays), and the caller says so once.

Some firmware reports a Counter64 as all ones (2^64 - 1) for a counter it does not keep;
InfluxDB's integers stop at 2^63 - 1, so such a value could not be stored at all.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:   # client.py imports pysnmp; the profiles' evaluation must stay light
    from linkwatch.collector.snmp.client import Value

INT64_MAX = 2**63 - 1       # the largest integer a line-protocol field holds
INT64_MIN = -(2**63)


def fits(value: int) -> bool:
    """Whether an integer can be a line-protocol field."""
    return INT64_MIN <= value <= INT64_MAX

_INT32 = 2**31
_UNSIGNED32 = 2**32


def integer32(value: Value | None) -> int | None:
    """An INTEGER / Integer32 (enumerations such as ifOperStatus, ifType)."""
    if isinstance(value, int) and -_INT32 <= value < _INT32:
        return int(value)
    return None


def unsigned32(value: Value | None) -> int | None:
    """A Counter32, Gauge32 or TimeTicks: 0 … 2^32 - 1."""
    if isinstance(value, int) and 0 <= value < _UNSIGNED32:
        return int(value)
    return None


def counter(value: Value | None) -> int | None:
    """A counter of either width, as far as a field can hold it: 0 … 2^63 - 1."""
    if isinstance(value, int) and 0 <= value <= INT64_MAX:
        return int(value)
    return None


def number(value: Value) -> int | float | None:
    """A user-declared OID's value as a field number: an integer that fits, or a finite
    float read from text ("-47.5", as some radios give signal levels); None otherwise."""
    if isinstance(value, int):
        return int(value) if fits(value) else None
    if isinstance(value, bytes):
        try:
            parsed = float(value.decode().strip())
        except (UnicodeDecodeError, ValueError):
            return None
        return parsed if math.isfinite(parsed) else None
    return None


def shown(value: Value) -> str:
    """A device's value as a log shows it: short, and without control characters."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def bad(value: Value) -> str:
    return f"{shown(value)} is of the wrong type or out of range"
