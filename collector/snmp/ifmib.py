"""IF-MIB as the probe sees it: interface descriptions, per-cycle counters, selection.

Descriptions (name, alias, type, speed) change rarely and are read on the first cycle, when
ifTableLastChange moves, and every `metadata_refresh`; each cycle reads only the columns
that change. Pure: turns walked columns into rows, no I/O. A value of the wrong type or out
of its range is left out of the row, and its field named in `rejected`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from linkwatch.collector.snmp import oids, smi
from linkwatch.collector.snmp.check import InterfaceSelection, names_interface
from linkwatch.collector.snmp.client import Value
from linkwatch.collector.snmp.oids import Oid

META_COLUMNS: tuple[Oid, ...] = (oids.IF_DESCR, oids.IF_TYPE, oids.IF_SPEED, oids.IF_NAME,
                                 oids.IF_ALIAS, oids.IF_HIGH_SPEED)
STATUS_COLUMNS: tuple[Oid, ...] = (oids.IF_OPER_STATUS, oids.IF_ADMIN_STATUS,
                                   oids.IF_IN_ERRORS, oids.IF_OUT_ERRORS,
                                   oids.IF_IN_DISCARDS, oids.IF_OUT_DISCARDS)
HC_COLUMNS: tuple[Oid, ...] = (oids.IF_HC_IN_OCTETS, oids.IF_HC_OUT_OCTETS)
LEGACY_COLUMNS: tuple[Oid, ...] = (oids.IF_IN_OCTETS, oids.IF_OUT_OCTETS)

_GAUGE32_MAX = 2**32 - 1


@dataclass(frozen=True, slots=True)
class IfMeta:
    index: int
    name: str
    alias: str
    type: int | None
    speed_bps: float | None     # absent when the device reports 0 (unknown)
    rejected: tuple[tuple[str, Value], ...] = ()   # (field, the device's value) left out


@dataclass(frozen=True, slots=True)
class IfCounters:
    index: int
    in_octets: int | None
    out_octets: int | None
    bits: int                   # width of the octet counters: 64 (ifHC*) or 32
    oper_status: int | None
    admin_status: int | None
    in_errors: int | None
    out_errors: int | None
    in_discards: int | None
    out_discards: int | None
    discontinuity: int | None
    rejected: tuple[tuple[str, Value], ...] = ()   # (field, the device's value) left out


def _text(value: Value | None) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace").rstrip("\x00").strip()
    return "" if value is None else str(value)


def _rows(columns: Mapping[Oid, Mapping[Oid, Value]], column: Oid) -> dict[int, Value]:
    """A column's rows by ifIndex (single-component index)."""
    return {idx[0]: v for idx, v in columns.get(column, {}).items() if len(idx) == 1}


def parse_meta(columns: Mapping[Oid, Mapping[Oid, Value]]) -> dict[int, IfMeta]:
    descr = _rows(columns, oids.IF_DESCR)
    name = _rows(columns, oids.IF_NAME)
    alias = _rows(columns, oids.IF_ALIAS)
    type_ = _rows(columns, oids.IF_TYPE)
    speed = _rows(columns, oids.IF_SPEED)
    high = _rows(columns, oids.IF_HIGH_SPEED)
    metas = {}
    for index in sorted(set(descr) | set(name) | set(type_)):
        rejected: list[tuple[str, Value]] = []
        if_speed = _checked(speed.get(index), smi.unsigned32, "speed_bps", rejected)
        high_mbps = _checked(high.get(index), smi.unsigned32, "speed_bps", rejected)
        metas[index] = IfMeta(
            index=index,
            # ifName is the short name users know (Gi0/1); some devices leave it empty.
            name=_text(name.get(index)) or _text(descr.get(index)) or str(index),
            alias=_text(alias.get(index)),
            type=smi.integer32(type_.get(index)),
            speed_bps=_speed(if_speed, high_mbps),
            rejected=tuple(rejected),
        )
    return metas


def _checked(value: Value | None, check: Callable[[Value | None], int | None], field: str,
             rejected: list[tuple[str, Value]]) -> int | None:
    """`check(value)`, noting `field` in `rejected` when a value came but does not pass."""
    if value is None:
        return None
    result = check(value)
    if result is None:
        rejected.append((field, value))
    return result


def _speed(if_speed: int | None, high_mbps: int | None) -> float | None:
    # ifSpeed is exact in bit/s below 4.29 Gbit/s, where it saturates at 2^32-1; only then
    # is ifHighSpeed (Mbit/s) the better figure. Some devices get ifHighSpeed wrong (the
    # D-Link DES-3038 reports it in bit/s; Huawei LAGs report 0), so it is not preferred.
    # Both 0: the device does not know (a port with nothing plugged in).
    if if_speed and if_speed < _GAUGE32_MAX:
        return float(if_speed)
    if high_mbps:
        return float(high_mbps) * 1_000_000
    if if_speed:
        return float(if_speed)
    return None


def parse_counters(columns: Mapping[Oid, Mapping[Oid, Value]],
                   indexes: Iterable[int] | None = None) -> dict[int, IfCounters]:
    """Counters per ifIndex; 64-bit octets where the device has them, else 32-bit."""
    hc_in = _rows(columns, oids.IF_HC_IN_OCTETS)
    hc_out = _rows(columns, oids.IF_HC_OUT_OCTETS)
    in32 = _rows(columns, oids.IF_IN_OCTETS)
    out32 = _rows(columns, oids.IF_OUT_OCTETS)
    oper = _rows(columns, oids.IF_OPER_STATUS)
    admin = _rows(columns, oids.IF_ADMIN_STATUS)
    in_err = _rows(columns, oids.IF_IN_ERRORS)
    out_err = _rows(columns, oids.IF_OUT_ERRORS)
    in_disc = _rows(columns, oids.IF_IN_DISCARDS)
    out_disc = _rows(columns, oids.IF_OUT_DISCARDS)
    disc = _rows(columns, oids.IF_COUNTER_DISCONTINUITY_TIME)
    if indexes is None:
        # every row any column has: a row whose status and octets were both unusable
        # still has its errors and discards
        indexes = set().union(hc_in, hc_out, in32, out32, oper, admin, in_err, out_err,
                              in_disc, out_disc)
    result = {}
    for i in indexes:
        bad: list[tuple[str, Value]] = []
        if i in hc_in and i in hc_out:
            # Counter64 as far as a field holds it (an all-ones value does not pass)
            in_o = _checked(hc_in[i], smi.counter, "in_octets", bad)
            out_o = _checked(hc_out[i], smi.counter, "out_octets", bad)
            bits = 64
        else:
            in_o = _checked(in32.get(i), smi.unsigned32, "in_octets", bad)
            out_o = _checked(out32.get(i), smi.unsigned32, "out_octets", bad)
            bits = 32
        result[i] = IfCounters(
            i, in_o, out_o, bits,
            oper_status=_checked(oper.get(i), smi.integer32, "oper_status", bad),
            admin_status=_checked(admin.get(i), smi.integer32, "admin_status", bad),
            in_errors=_checked(in_err.get(i), smi.counter, "in_errors", bad),
            out_errors=_checked(out_err.get(i), smi.counter, "out_errors", bad),
            in_discards=_checked(in_disc.get(i), smi.counter, "in_discards", bad),
            out_discards=_checked(out_disc.get(i), smi.counter, "out_discards", bad),
            discontinuity=_checked(disc.get(i), smi.unsigned32, "discontinuity_time", bad),
            rejected=tuple(bad))
    return result


def explicit(meta: IfMeta, sel: InterfaceSelection) -> bool:
    """Picked by exact name, alias or index: taken even when a loopback or down."""
    return meta.index in sel.indexes or meta.name in sel.names or (
        bool(meta.alias) and meta.alias in sel.aliases)


def candidates(metas: Mapping[int, IfMeta], sel: InterfaceSelection,
               uplink: str | None = None) -> list[int]:
    """Interfaces that may be reported, before the per-cycle up/down filter."""
    if not sel.enabled:
        return []
    pattern = re.compile(sel.regex) if sel.regex else None
    everything = not (sel.names or sel.aliases or sel.indexes or pattern)
    picked = []
    for meta in metas.values():
        if explicit(meta, sel) or (uplink is not None and is_uplink(meta, uplink)):
            picked.append(meta.index)
            continue
        if meta.type == oids.IF_TYPE_SOFTWARE_LOOPBACK and not sel.include_loopback:
            continue
        if everything or (pattern and (pattern.search(meta.name)
                                       or pattern.search(meta.alias))):
            picked.append(meta.index)
    return picked


def keep(meta: IfMeta, counters: IfCounters, sel: InterfaceSelection,
         uplink: str | None = None) -> bool:
    """The per-cycle filter: down or admin-down interfaces only when asked for."""
    if sel.include_down or explicit(meta, sel):
        return True
    if uplink is not None and is_uplink(meta, uplink):
        return True
    return counters.oper_status == oids.STATUS_UP and counters.admin_status == oids.STATUS_UP


def is_uplink(meta: IfMeta, uplink: str) -> bool:
    return names_interface(uplink, meta.name, meta.alias, str(meta.index))
