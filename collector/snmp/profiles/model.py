"""What a device profile says, as frozen dataclasses: parsed once from its YAML file
(loader.py), read by the poller (poll.py), the evaluator (evaluate.py) and the docs (table.py).

A profile is a list of groups. A group is either a set of scalars (every metric OID an
instance ending in .0) or one table (every metric OID a column, rows told apart by the index
parts and tags of the group). Each metric becomes one field of the group's measurement.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from linkwatch.collector.snmp.oids import Oid, parse_oid

# One measurement per area (DESIGN "Data model"); the queries read radio and power.
MEASUREMENTS = ("radio", "power", "sensor")
FieldType = Literal["int", "float", "string"]
Kind = Literal["gauge", "counter", "state"]
IndexType = Literal["int", "mac", "ipv4", "rest"]
TagType = Literal["text", "mac", "int"]

# How many OID components each fixed-size index part takes.
INDEX_WIDTH: Mapping[str, int] = {"int": 1, "mac": 6, "ipv4": 4}


@dataclass(frozen=True)
class Condition:
    """The metric applies to a row only when `oid` (a column of the same row, or a scalar)
    holds one of `values` (numbers compare as numbers, text as text)."""

    oid: Oid
    values: tuple[int | str, ...]


@dataclass(frozen=True)
class Exponent:
    """A decimal exponent read from the device: the value × 10^(factor × column + offset).
    ENTITY-SENSOR-MIB: × 10^(3 × entPhySensorScale − 27) × 10^(−entPhySensorPrecision)."""

    oid: Oid
    factor: float = 1.0
    offset: float = 0.0


@dataclass(frozen=True)
class Metric:
    """One field: where its value comes from, how it is converted, and what it means."""

    field: str
    oid: Oid
    type: FieldType
    kind: Kind
    unit: str
    description: str
    absent: str                          # when the field is absent, for the docs
    scale: float = 1.0
    multiply_by: Oid | None = None       # × another OID of the row (hrStorageAllocationUnits)
    percent_of: Oid | None = None        # ÷ another OID of the row × 100 (hrStorageSize)
    exponent: tuple[Exponent, ...] = ()
    absent_if: tuple[int | float, ...] = ()   # raw values that mean "no reading"
    when: tuple[Condition, ...] = ()
    # kind state: value → meaning
    states: Mapping[int, str] = dataclasses.field(default_factory=dict)
    true_when: tuple[int, ...] = ()      # a 0/1 flag: 1 when the raw value is one of these
    line: int = 0                        # where the profile file defines it


@dataclass(frozen=True)
class IndexPart:
    """A piece of a table row's index: `width` OID components (0: all that remain), shown as
    tag `tag` (None: the part only positions the next one)."""

    tag: str | None
    type: IndexType


@dataclass(frozen=True)
class TagSource:
    """A tag of every point of a group: from a column of the row (`oid`) or a constant."""

    tag: str
    description: str
    oid: Oid | None = None
    type: TagType = "text"
    value: str | None = None


@dataclass(frozen=True)
class Group:
    """Scalars (`index` empty) or one table's columns, written to one measurement."""

    measurement: str
    table: str | None                    # the table's MIB name, for people
    index: tuple[IndexPart, ...]
    tags: tuple[TagSource, ...]
    metrics: tuple[Metric, ...]

    @property
    def is_table(self) -> bool:
        return bool(self.index)

    @property
    def tag_names(self) -> tuple[str, ...]:
        return (*(p.tag for p in self.index if p.tag), *(t.tag for t in self.tags))

    def oids(self) -> tuple[Oid, ...]:
        """Every OID the group reads: tags, values, conditions, factors, each once."""
        found: dict[Oid, None] = {t.oid: None for t in self.tags if t.oid is not None}
        for m in self.metrics:
            for oid in (m.oid, *(c.oid for c in m.when), *(e.oid for e in m.exponent),
                        m.multiply_by, m.percent_of):
                if oid is not None:
                    found[oid] = None
        return tuple(found)


@dataclass(frozen=True)
class Profile:
    name: str
    title: str                            # "Ubiquiti airMAX radio"
    mib: str                              # the MIBs it reads, for people
    sysobjectid: tuple[Oid, ...]          # prefixes that select it
    include: tuple[str, ...]              # other profiles polled with it
    groups: tuple[Group, ...]
    source: str                           # the file it was read from

    def metrics(self) -> tuple[tuple[Group, Metric], ...]:
        return tuple((g, m) for g in self.groups for m in g.metrics)


@dataclass(frozen=True)
class Catalog:
    """Every profile an agent knows: the shipped ones, then the site's own (which replace a
    shipped profile of the same name)."""

    profiles: tuple[Profile, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.profiles)

    def named(self, name: str) -> Profile | None:
        return next((p for p in self.profiles if p.name == name), None)

    def for_object_id(self, sys_object_id: Oid) -> Profile | None:
        """The profile with the longest sysObjectID prefix that matches; None if none does."""
        best: tuple[int, Profile] | None = None
        for profile in self.profiles:
            for prefix in profile.sysobjectid:
                if sys_object_id[:len(prefix)] == prefix and (best is None
                                                              or len(prefix) > best[0]):
                    best = (len(prefix), profile)
        return best[1] if best else None

    def choose(self, wanted: str, sys_object_id: str | None) -> tuple[Profile, ...]:
        """The profiles a device gets, with what they include: `wanted` is `auto`, `none` or
        a profile's name; `sys_object_id` is what the device answered for sysObjectID.0."""
        if wanted == "none":
            return ()
        if wanted != "auto":
            named = self.named(wanted)
            return self.with_includes(named) if named is not None else ()
        if not sys_object_id:
            return ()
        try:
            found = self.for_object_id(parse_oid(sys_object_id))
        except ValueError:
            return ()         # not an OID: a device that answers nonsense gets no profile
        return self.with_includes(found) if found is not None else ()

    def with_includes(self, profile: Profile) -> tuple[Profile, ...]:
        """`profile` and every profile it includes, each once, in order."""
        found: list[Profile] = []

        def add(p: Profile) -> None:
            if p in found:
                return
            found.append(p)
            for name in p.include:
                included = self.named(name)
                if included is not None:
                    add(included)

        add(profile)
        return tuple(found)
