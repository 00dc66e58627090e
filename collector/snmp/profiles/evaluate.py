"""Turns the values a device returned for its profiles into samples. Pure: no I/O.

    need = plan(profiles)                       # what to ask the device for
    samples = evaluate(profiles, scalars, columns, device="quan-lan-radio", time_ns=now)

Everything from the device is hostile: a tag or string is decoded, stripped of control
characters and cut to a length; a row whose index does not have the declared shape is
skipped; a value that is not a number where one is expected leaves its field absent.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from linkwatch.collector.sample import FieldValue, Sample
from linkwatch.collector.snmp import smi
from linkwatch.collector.snmp.oids import Oid
from linkwatch.collector.snmp.profiles.model import (
    INDEX_WIDTH,
    Group,
    IndexPart,
    Metric,
    Profile,
    TagSource,
)

if TYPE_CHECKING:   # the client module loads pysnmp: evaluating needs none of it
    from linkwatch.collector.snmp.client import Value

MAX_TEXT = 128                       # characters kept of a tag or string from a device
Lookup = Callable[[Oid], "Value | None"]


@dataclass(frozen=True)
class Plan:
    """What a device's profiles need each cycle: scalar instances (ending in .0) and table
    columns (walked, or read by GET once their rows are known)."""

    scalars: tuple[Oid, ...]
    columns: tuple[Oid, ...]

    def __bool__(self) -> bool:
        return bool(self.scalars or self.columns)


def plan(profiles: Iterable[Profile]) -> Plan:
    scalars: dict[Oid, None] = {}
    columns: dict[Oid, None] = {}
    for profile in profiles:
        for group in profile.groups:
            target = columns if group.is_table else scalars
            for oid in group.oids():
                target[oid] = None
    return Plan(tuple(scalars), tuple(columns))


def evaluate(profiles: Iterable[Profile], scalars: Mapping[Oid, Value],
             columns: Mapping[Oid, Mapping[Oid, Value]], *, device: str,
             time_ns: int) -> list[Sample]:
    """The points of one cycle: one per (measurement, tags), fields of every group merged."""
    points: dict[tuple[str, tuple[tuple[str, str], ...]], dict[str, FieldValue]] = {}
    for profile in profiles:
        for group in profile.groups:
            if group.is_table:
                rows: set[Oid] = set()
                for oid in (m.oid for m in group.metrics):
                    rows.update(columns.get(oid, {}))
                for index in sorted(rows):
                    tags = index_tags(group.index, index)
                    if tags is None:
                        continue      # not the shape the MIB declares: skip, never guess
                    row = {c: columns[c][index] for c in columns if index in columns[c]}
                    _row(points, group, tags, row.get)
            else:
                _row(points, group, {}, scalars.get)
    return [Sample(measurement, {"device": device, **dict(tags)}, fields, time_ns)
            for (measurement, tags), fields in points.items() if fields]


def _row(points: dict, group: Group, tags: dict[str, str], get: Lookup) -> None:
    for source in group.tags:
        value = tag_value(source, get)
        if value:
            tags[source.tag] = value
    fields = {}
    for m in group.metrics:
        reading = metric_value(m, get)
        if reading is not None:
            fields[m.field] = reading
    if fields:
        points.setdefault((group.measurement, tuple(sorted(tags.items()))), {}).update(fields)


def metric_value(m: Metric, get: Lookup) -> FieldValue | None:
    """The field's value from the row (or the scalars), converted; None: absent."""
    raw = get(m.oid)
    if raw is None or not all(_matches(get(c.oid), c.values) for c in m.when):
        return None
    if m.type == "string":
        return text(raw) or None
    number = _number(raw)
    if number is None or number in m.absent_if:
        return None
    if m.true_when:
        return int(int(number) in m.true_when)
    if m.kind != "gauge":
        # a counter of all ones (2^64 - 1, which some firmware reports for one it does not
        # keep) cannot be a field: left out, the point's other fields kept
        return int(number) if smi.fits(int(number)) else None
    value = number * m.scale
    if m.multiply_by is not None:
        factor = _number(get(m.multiply_by))
        if factor is None:
            return None
        value *= factor
    if m.percent_of is not None:
        whole = _number(get(m.percent_of))
        if not whole:
            return None       # a size of 0 (an empty or unmounted volume) has no share
        value = 100.0 * value / whole
    if m.exponent:
        power = 0.0
        for e in m.exponent:
            part = _number(get(e.oid))
            if part is None:
                return None
            power += e.factor * part + e.offset
        value *= 10.0 ** power
    if value != value or abs(value) == float("inf"):
        return None
    # 12 significant digits: 95 × 0.01 is 0.95, not 0.9500000000000001
    if m.type == "float":
        return float(f"{value:.12g}")
    return round(value) if smi.fits(round(value)) else None


def tag_value(source: TagSource, get: Lookup) -> str | None:
    if source.value is not None:
        return source.value
    raw = get(source.oid) if source.oid is not None else None
    if raw is None:
        return None
    if source.type == "mac" and isinstance(raw, bytes) and len(raw) == 6:
        return ":".join(f"{b:02x}" for b in raw)
    if source.type == "int":
        number = _number(raw)
        return None if number is None else str(int(number))
    return text(raw) or None


def index_tags(parts: tuple[IndexPart, ...], index: Oid) -> dict[str, str] | None:
    """The tags a row's index gives, or None when the index does not fit the parts."""
    tags: dict[str, str] = {}
    at = 0
    for part in parts:
        if part.type == "rest":
            piece, at = index[at:], len(index)
            if not piece:
                return None
        else:
            width = INDEX_WIDTH[part.type]
            piece, at = index[at:at + width], at + width
            if len(piece) != width:
                return None
        if part.type in ("mac", "ipv4") and any(b > 255 for b in piece):
            return None
        if part.tag is None:
            continue
        if part.type == "mac":
            tags[part.tag] = ":".join(f"{b:02x}" for b in piece)
        else:
            tags[part.tag] = ".".join(map(str, piece))
    return tags if at == len(index) else None


def text(value: Value) -> str:
    """A device's string made safe to store and show: decoded, printable, bounded."""
    raw = value.decode("utf-8", errors="replace") if isinstance(value, bytes) else str(value)
    clean = "".join(c if c.isprintable() else " " for c in raw.replace("\x00", ""))
    return " ".join(clean.split())[:MAX_TEXT]


def _number(value: Value | None) -> int | float | None:
    if isinstance(value, int):
        return int(value)
    if isinstance(value, bytes | str):
        # some devices give readings as text ("-47.5")
        try:
            number = float(value.decode() if isinstance(value, bytes) else value)
        except (UnicodeDecodeError, ValueError):
            return None
        return number if number == number and abs(number) != float("inf") else None
    return None


def _matches(value: Value | None, wanted: tuple[int | str, ...]) -> bool:
    if value is None:
        return False
    if isinstance(value, int):
        return int(value) in wanted
    shown = text(value).strip(".")
    return any(isinstance(w, str) and w.strip(".") == shown for w in wanted)
