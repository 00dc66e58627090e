"""What linkwatch writes: each measurement's tags, and its fields with their types.

`measurements()` is the one place a reader of points from outside (`spool import`) checks a
point against. It reads the metrics tables (agent.datamodel.measurements: the probes' and the
agent's own, the ones the docs are generated from); the measurements of device profiles
(radio, power, sensor) take their fields and row tags from the profiles themselves, which
declare each with its type.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field

from linkwatch.agent.datamodel.measurements import data_model
from linkwatch.collector.metrics import EVERY, TYPES, Metric
from linkwatch.collector.sample import FieldValue, Sample
from linkwatch.collector.snmp.profiles import Catalog


@dataclass(frozen=True)
class Measurement:
    """One measurement: its tags (those every point carries included), and its fields' types.

    `declared` holds the types a field named by the config may have (the user-declared
    OIDs of `snmp`): any name that is an identifier, with a value of one of these types.
    """

    name: str
    tags: frozenset[str]
    fields: Mapping[str, type]
    declared: tuple[type, ...] = field(default=())

    def problem(self, sample: Sample) -> str | None:
        """What makes `sample` something this measurement never holds, or None."""
        extra = sorted(set(sample.tags) - self.tags)
        if extra:
            return f"tag {extra[0]!r} is not a tag of {self.name}"
        for name, value in sample.fields.items():
            wrong = self._field_problem(name, value)
            if wrong:
                return wrong
        return None

    def _field_problem(self, name: str, value: FieldValue) -> str | None:
        expected = self.fields.get(name)
        if expected is not None:
            if type(value) is not expected:
                return (f"field {name!r} of {self.name} is {_TYPE_NAMES[expected]}, "
                        f"not {_TYPE_NAMES.get(type(value), type(value).__name__)}")
            return None
        if self.declared and name.isidentifier():
            if type(value) not in self.declared:
                return f"field {name!r} of {self.name} has a {type(value).__name__} value"
            return None
        return f"{self.name} has no field {name!r}"


_TYPE_NAMES = {int: "an integer", float: "a float", str: "a string", bool: "a boolean"}

_PROFILE_TYPES = {"int": int, "float": float, "string": str}


def measurements(catalog: Catalog | None = None) -> Mapping[str, Measurement]:
    """Every measurement linkwatch writes, by name; those of device profiles as `catalog`
    declares them (default: the shipped profiles)."""
    table = data_model()
    profiled = catalog if catalog is not None else _shipped()
    by_profiles = {g.measurement for p in profiled.profiles for g in p.groups}
    every = {r.name for r in table.of(EVERY) if r.kind == "tag"}     # agent, site
    tags: dict[str, set[str]] = {}
    fields: dict[str, dict[str, type]] = {}
    declared: dict[str, tuple[type, ...]] = {}
    for name in table.measurements():
        if name == EVERY:
            continue
        rows = table.of(name)
        tags[name] = every | {r.name for r in rows if r.kind == "tag" and not _given(r)}
        fields[name] = {r.name: TYPES[r.types[0]] for r in rows
                        if r.kind == "field" and not _given(r) and len(r.types) == 1}
        # a field the config names (`<field>` of snmp) may be any identifier of those
        # types; a profiled measurement's are the profiles' own, enumerated below
        declared[name] = () if name in by_profiles else tuple(dict.fromkeys(
            TYPES[t] for r in rows if r.kind == "field" and _given(r) for t in r.types))
    for profile in profiled.profiles:
        for group in profile.groups:
            tags.setdefault(group.measurement, every | {"device"}).update(group.tag_names)
            fields.setdefault(group.measurement, {}).update(
                (m.field, _PROFILE_TYPES[m.type]) for m in group.metrics)
    return {name: Measurement(name, frozenset(tags.get(name, ())), fields[name],
                              declared.get(name, ())) for name in fields}


def _given(row: Metric) -> bool:
    """A row that stands for names the config or a profile gives (`<field>`)."""
    return "<" in row.name


@functools.cache
def _shipped() -> Catalog:
    from linkwatch.collector.snmp.profiles import shipped_catalog

    return shipped_catalog()
