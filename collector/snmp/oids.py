"""Numeric OIDs the probe reads (no MIB files are loaded: names are resolved here, once)."""

from __future__ import annotations

Oid = tuple[int, ...]


def parse_oid(text: str) -> Oid:
    """`.1.3.6.1.2.1.1.3.0` or `1.3.6.1.2.1.1.3.0` → (1, 3, 6, 1, 2, 1, 1, 3, 0)."""
    parts = text.strip().strip(".").split(".")
    try:
        oid = tuple(int(p) for p in parts)
    except ValueError as e:
        raise ValueError(f"{text!r} is not a numeric OID (write it like .1.3.6.1.2.1.1.3.0; "
                         "MIB names are not resolved)") from e
    if len(oid) < 2 or any(p < 0 for p in oid):
        raise ValueError(f"{text!r} is not a numeric OID")
    return oid


SYS_UPTIME: Oid = (1, 3, 6, 1, 2, 1, 1, 3)               # .0: TimeTicks (1/100 s)
IF_TABLE_LAST_CHANGE: Oid = (1, 3, 6, 1, 2, 1, 31, 1, 5)  # .0: TimeTicks

_IF = (1, 3, 6, 1, 2, 1, 2, 2, 1)        # ifEntry
_IFX = (1, 3, 6, 1, 2, 1, 31, 1, 1, 1)   # ifXEntry

IF_DESCR: Oid = (*_IF, 2)
IF_TYPE: Oid = (*_IF, 3)
IF_SPEED: Oid = (*_IF, 5)                # bit/s, Gauge32 (saturates at 4.29 Gbit/s)
IF_ADMIN_STATUS: Oid = (*_IF, 7)
IF_OPER_STATUS: Oid = (*_IF, 8)
IF_IN_OCTETS: Oid = (*_IF, 10)           # Counter32
IF_IN_DISCARDS: Oid = (*_IF, 13)
IF_IN_ERRORS: Oid = (*_IF, 14)
IF_OUT_OCTETS: Oid = (*_IF, 16)          # Counter32
IF_OUT_DISCARDS: Oid = (*_IF, 19)
IF_OUT_ERRORS: Oid = (*_IF, 20)

IF_NAME: Oid = (*_IFX, 1)
IF_HC_IN_OCTETS: Oid = (*_IFX, 6)        # Counter64
IF_HC_OUT_OCTETS: Oid = (*_IFX, 10)      # Counter64
IF_HIGH_SPEED: Oid = (*_IFX, 15)         # Mbit/s
IF_ALIAS: Oid = (*_IFX, 18)
IF_COUNTER_DISCONTINUITY_TIME: Oid = (*_IFX, 19)  # TimeTicks

IF_TYPE_SOFTWARE_LOOPBACK = 24
STATUS_UP = 1
