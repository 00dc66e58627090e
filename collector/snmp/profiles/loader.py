"""Reads profile files (YAML) into `Profile`s, reporting every mistake with its file and line.

    catalog = load_catalog(Path("/etc/linkwatch/profiles"))   # shipped + the site's own

The shipped profiles sit in `shipped/` beside this module (package data); a site directory
adds its own `*.yaml` files, and a site profile with a shipped profile's name replaces it.
Everything from the file is checked: names, numeric OIDs, types, units, that a scalar is an
instance (`.0`), that a (measurement, field) has one type across every profile (InfluxDB
refuses a field whose type changes), and that includes exist and do not loop.
"""

from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, get_args

import yaml
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from linkwatch.collector.snmp.oids import Oid, parse_oid
from linkwatch.collector.snmp.profiles.model import (
    MEASUREMENTS,
    Catalog,
    Condition,
    Exponent,
    FieldType,
    Group,
    IndexPart,
    IndexType,
    Kind,
    Metric,
    Profile,
    TagSource,
    TagType,
)

SHIPPED = Path(__file__).resolve().parent / "shipped"
_NAME = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_IDENT = re.compile(r"^[a-z][a-z0-9_]*$")
_RESERVED_TAGS = ("agent", "site", "device")   # every point has them already
# libyaml's parser where PyYAML has it (ten times faster here); the same nodes and marks
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
T = TypeVar("T")


@dataclass(frozen=True)
class ProfileError:
    """One mistake in a profile file: where it is, what is wrong, how to fix it."""

    path: Path
    line: int | None
    message: str
    hint: str | None = None

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else str(self.path)
        return f"{where}: {self.message}" + (f"\n    hint: {self.hint}" if self.hint else "")


class ProfilesInvalid(Exception):
    """Profile files that cannot be used; `errors` lists every mistake found."""

    def __init__(self, errors: list[ProfileError]) -> None:
        super().__init__("\n".join(map(str, errors)))
        self.errors = errors


class _Stop(Exception):
    """A value could not be read; its error is recorded already."""


class _Reader:
    """One file's YAML nodes read with their line numbers; mistakes collect in `errors`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.errors: list[ProfileError] = []
        self._construct = SafeConstructor()

    def fail(self, node: Node | None, message: str, hint: str | None = None) -> _Stop:
        line = node.start_mark.line + 1 if node is not None else None
        self.errors.append(ProfileError(self.path, line, message, hint))
        return _Stop()

    def mapping(self, node: Node, keys: Iterable[str], what: str,
                required: Iterable[str] = ()) -> dict[str, Node]:
        if not isinstance(node, MappingNode):
            raise self.fail(node, f"{what}: expected a mapping with keys {', '.join(keys)}")
        known = list(keys)
        found: dict[str, Node] = {}
        for key_node, value in node.value:
            key = key_node.value if isinstance(key_node, ScalarNode) else None
            if key not in known:
                close = difflib.get_close_matches(str(key), known, n=1)
                self.fail(key_node, f"{what}: unknown key {key!r}",
                          f"did you mean {close[0]!r}?" if close
                          else "known keys: " + ", ".join(known))
                continue
            if key in found:
                self.fail(key_node, f"{what}: {key!r} is written twice")
                continue
            found[key] = value
        for key in required:
            if key not in found:
                raise self.fail(node, f"{what}: missing required key {key!r}")
        return found

    def sequence(self, node: Node | None, what: str) -> list[Node]:
        if node is None:
            return []
        if not isinstance(node, SequenceNode):
            raise self.fail(node, f"{what}: expected a list")
        return list(node.value)

    def scalar(self, node: Node, what: str, kind: type | tuple[type, ...]) -> Any:
        if not isinstance(node, ScalarNode):
            raise self.fail(node, f"{what}: expected a single value")
        try:
            value = self._construct.construct_object(node)
        except ConstructorError as e:
            raise self.fail(node, f"{what}: {e.problem}") from e
        if isinstance(value, bool) or not isinstance(value, kind):
            names = kind.__name__ if isinstance(kind, type) else " or ".join(
                k.__name__ for k in kind)
            raise self.fail(node, f"{what}: expected {names.replace('str', 'text')}, "
                            f"got {node.value!r}")
        return value

    def text(self, node: Node | None, what: str, default: str | None = None) -> str:
        if node is None:
            if default is None:
                raise self.fail(None, f"{what} is missing")
            return default
        value = self.scalar(node, what, (str, int, float))
        return str(value)

    def choice(self, node: Node | None, what: str, choices: tuple[str, ...],
               default: str) -> str:
        if node is None:
            return default
        value = self.text(node, what)
        if value not in choices:
            raise self.fail(node, f"{what}: {value!r} is not one of {', '.join(choices)}")
        return value

    def oid(self, node: Node | None, what: str) -> Oid:
        if node is None:
            raise self.fail(None, f"{what}: missing")
        try:
            return parse_oid(self.text(node, what))
        except ValueError as e:
            raise self.fail(node, f"{what}: {e}") from e

    def name(self, node: Node, what: str, pattern: re.Pattern[str], example: str) -> str:
        value = self.text(node, what)
        if not pattern.match(value):
            raise self.fail(node, f"{what}: {value!r} is not a valid name",
                            f"lower case and digits, like {example}")
        return value

    def each(self, nodes: Iterable[Node], read: Callable[[Node], T]) -> list[T]:
        """`read` of every node, skipping those whose mistakes were recorded."""
        out = []
        for node in nodes:
            try:
                out.append(read(node))
            except _Stop:
                continue
        return out


def _index_part(r: _Reader, node: Node) -> IndexPart:
    keys = r.mapping(node, ("tag", "type"), "index part", required=("type",))
    tag = r.name(keys["tag"], "index tag", _IDENT, "station") if "tag" in keys else None
    kind = r.choice(keys.get("type"), "index type", get_args(IndexType), "int")
    return IndexPart(tag, kind)  # type: ignore[arg-type]


def _tag(r: _Reader, node: Node) -> TagSource:
    keys = r.mapping(node, ("tag", "oid", "value", "type", "description"), "tag",
                     required=("tag", "description"))
    name = r.name(keys["tag"], "tag", _IDENT, "station_name")
    if ("oid" in keys) == ("value" in keys):
        raise r.fail(node, f"tag {name!r}: give either `oid` (a column) or `value` (a constant)")
    return TagSource(
        tag=name, description=r.text(keys["description"], "tag description"),
        oid=r.oid(keys["oid"], f"tag {name!r} oid") if "oid" in keys else None,
        type=r.choice(keys.get("type"), f"tag {name!r} type", get_args(TagType),  # type: ignore[arg-type]
                      "text"),
        value=r.text(keys["value"], f"tag {name!r} value") if "value" in keys else None)


_METRIC_KEYS = ("field", "oid", "type", "kind", "unit", "description", "absent", "scale",
                "multiply_by", "percent_of", "exponent", "absent_if", "when", "states",
                "true_when")


def _metric(r: _Reader, node: Node, *, table: bool) -> Metric:
    keys = r.mapping(node, _METRIC_KEYS, "metric", required=("field", "oid", "type",
                                                             "description"))
    name = r.name(keys["field"], "field", _IDENT, "signal_dbm")
    what = f"field {name!r}"
    oid = r.oid(keys["oid"], f"{what} oid")
    if not table and oid[-1] != 0:
        raise r.fail(keys["oid"], f"{what}: a scalar's OID is its instance and ends in .0",
                     f"write {'.' + '.'.join(map(str, oid))}.0, or put it in a table group")
    ftype: FieldType = r.choice(keys.get("type"), f"{what} type",  # type: ignore[assignment]
                                get_args(FieldType), "float")
    kind: Kind = r.choice(keys.get("kind"), f"{what} kind",  # type: ignore[assignment]
                          get_args(Kind), "gauge")
    if kind in ("counter", "state") and ftype != "int":
        raise r.fail(keys["type"], f"{what}: a {kind} is stored as int", "write type: int")
    states = {}
    if "states" in keys:
        if not isinstance(keys["states"], MappingNode):
            raise r.fail(keys["states"], f"{what}: states is a mapping of value: meaning")
        for k, v in keys["states"].value:
            states[r.scalar(k, f"{what} state value", int)] = r.text(v, f"{what} state")
    true_when = tuple(r.scalar(n, f"{what} true_when", int)
                      for n in r.sequence(keys.get("true_when"), f"{what} true_when"))
    if (states or true_when) and kind != "state":
        raise r.fail(node, f"{what}: states and true_when belong to kind: state")
    if kind == "state" and not (states or true_when):
        raise r.fail(node, f"{what}: a state needs `states` (value: meaning) or "
                     "`true_when` (the values that make it 1)")
    conditions = []
    for c in r.sequence(keys.get("when"), f"{what} when"):
        ck = r.mapping(c, ("oid", "in"), f"{what} when", required=("oid", "in"))
        conditions.append(Condition(r.oid(ck["oid"], f"{what} when oid"), tuple(
            r.scalar(v, f"{what} when value", (int, str))
            for v in r.sequence(ck["in"], f"{what} when in"))))
    exponents = []
    for e in r.sequence(keys.get("exponent"), f"{what} exponent"):
        ek = r.mapping(e, ("oid", "factor", "offset"), f"{what} exponent", required=("oid",))
        exponents.append(Exponent(
            r.oid(ek["oid"], f"{what} exponent oid"),
            float(r.scalar(ek["factor"], f"{what} factor", (int, float))) if "factor" in ek
            else 1.0,
            float(r.scalar(ek["offset"], f"{what} offset", (int, float))) if "offset" in ek
            else 0.0))
    numeric = (("scale", "multiply_by", "percent_of", "exponent", "absent_if"))
    if ftype == "string" and any(k in keys for k in numeric):
        raise r.fail(node, f"{what}: a string takes no {', '.join(numeric)}")
    absent_if = tuple(r.scalar(n, f"{what} absent_if", (int, float))
                      for n in r.sequence(keys.get("absent_if"), f"{what} absent_if"))
    return Metric(
        field=name, oid=oid, type=ftype, kind=kind,
        unit=r.text(keys.get("unit"), f"{what} unit", ""),
        description=r.text(keys["description"], f"{what} description"),
        absent=r.text(keys.get("absent"), f"{what} absent",
                      _absent_text(table, absent_if, conditions)),
        scale=float(r.scalar(keys["scale"], f"{what} scale", (int, float)))
        if "scale" in keys else 1.0,
        multiply_by=r.oid(keys["multiply_by"], f"{what} multiply_by")
        if "multiply_by" in keys else None,
        percent_of=r.oid(keys["percent_of"], f"{what} percent_of")
        if "percent_of" in keys else None,
        exponent=tuple(exponents), absent_if=absent_if, when=tuple(conditions),
        states=states, true_when=true_when, line=node.start_mark.line + 1)


def _absent_text(table: bool, absent_if: tuple, conditions: list[Condition]) -> str:
    text = "the device does not have the " + ("column for this row" if table else "object")
    if absent_if:
        text += " or reports " + " or ".join(f"{v:g}" for v in absent_if) + " (no reading)"
    if conditions:
        text += "; only rows that match the profile's `when`"
    return text


def _group(r: _Reader, node: Node) -> Group:
    keys = r.mapping(node, ("measurement", "table", "index", "tags", "metrics"), "group",
                     required=("measurement", "metrics"))
    measurement = r.text(keys["measurement"], "measurement")
    if measurement not in MEASUREMENTS:
        raise r.fail(keys["measurement"], f"measurement {measurement!r} is not one of "
                     f"{', '.join(MEASUREMENTS)}", "one measurement per area (docs/data-model.md)")
    index = tuple(r.each(r.sequence(keys.get("index"), "index"), lambda n: _index_part(r, n)))
    if any(p.type == "rest" for p in index[:-1]):
        raise r.fail(keys["index"], "index: a `rest` part takes what remains, so it comes last")
    tags = tuple(r.each(r.sequence(keys.get("tags"), "tags"), lambda n: _tag(r, n)))
    metrics = tuple(r.each(r.sequence(keys["metrics"], "metrics"),
                           lambda n: _metric(r, n, table=bool(index))))
    group = Group(measurement, r.text(keys["table"], "table") if "table" in keys else None,
                  index, tags, metrics)
    if not index:
        for oid in group.oids():
            if oid[-1] != 0:
                r.fail(node, f"scalar group: {'.' + '.'.join(map(str, oid))} is not an "
                       "instance (.0)", "a group without `index` reads scalars only")
    names = group.tag_names
    for name in names:
        if name in _RESERVED_TAGS:
            r.fail(node, f"tag {name!r} is set by the agent; name it otherwise")
        if names.count(name) > 1:
            r.fail(node, f"tag {name!r} is given twice in one group")
    fields = [m.field for m in metrics]
    for m in metrics:
        if fields.count(m.field) > 1:
            r.fail(node, f"field {m.field!r} is given twice in one group")
        if m.field in names:
            r.fail(node, f"{m.field!r} is both a tag and a field")
    return group


def read_profile(path: Path) -> tuple[Profile | None, list[ProfileError]]:
    """One profile file, or None with the mistakes found in it."""
    r = _Reader(path)
    try:
        root = yaml.compose(path.read_text(encoding="utf-8"), Loader=_YAML_LOADER)
    except OSError as e:
        return None, [ProfileError(path, None, f"cannot read the profile: {e.strerror}")]
    except UnicodeDecodeError:
        return None, [ProfileError(path, None, "the profile is not UTF-8 text")]
    except yaml.MarkedYAMLError as e:
        line = e.problem_mark.line + 1 if e.problem_mark else None
        return None, [ProfileError(path, line, f"not valid YAML: {e.problem}")]
    if root is None:
        return None, [ProfileError(path, None, "the profile is empty")]
    try:
        keys = r.mapping(root, ("name", "title", "mib", "sysobjectid", "include", "groups"),
                         "profile", required=("name", "title", "groups"))
        name = r.name(keys["name"], "name", _NAME, "ubiquiti-airmax")
        profile = Profile(
            name=name, title=r.text(keys["title"], "title"),
            mib=r.text(keys.get("mib"), "mib", ""),
            sysobjectid=tuple(r.each(r.sequence(keys.get("sysobjectid"), "sysobjectid"),
                                     lambda n: r.oid(n, "sysobjectid"))),
            include=tuple(r.each(r.sequence(keys.get("include"), "include"),
                                 lambda n: r.name(n, "include", _NAME, "router-health"))),
            groups=tuple(r.each(r.sequence(keys["groups"], "groups"),
                                lambda n: _group(r, n))),
            source=str(path))
    except _Stop:
        return None, r.errors
    _check_merged_fields(r, profile)
    return (None if r.errors else profile), r.errors


def _check_merged_fields(r: _Reader, profile: Profile) -> None:
    """Groups of one measurement with the same tags write into the same points: their fields
    must differ (ubntWlStatTable and ubntAirMaxTable, both by radio index, share a point)."""
    seen: dict[tuple, Group] = {}
    for group in profile.groups:
        # constant tags that differ (mode: ap, mode: station) keep two groups' points apart
        constants = tuple(sorted((t.tag, t.value) for t in group.tags if t.value is not None))
        key = (group.measurement, tuple(sorted(group.tag_names)), constants)
        for m in group.metrics:
            if (*key, m.field) in seen and seen[(*key, m.field)] is not group:
                r.errors.append(ProfileError(
                    r.path, m.line, f"field {m.field!r} is written by two groups into the "
                    f"same {group.measurement} points", "rename one of them"))
            seen[(*key, m.field)] = group


def load_catalog(site_dir: Path | None = None) -> Catalog:
    """The shipped profiles, then the `*.yaml` files of `site_dir`; raises ProfilesInvalid
    listing every mistake (a missing `site_dir` is one)."""
    shipped, errors = _read_dir(SHIPPED)
    site: list[Profile] = []
    if site_dir is not None:
        if not site_dir.is_dir():
            errors.append(ProfileError(site_dir, None, "the profile directory does not exist",
                                       "create it, or correct agent.snmp_profiles"))
        else:
            site, more = _read_dir(site_dir)
            errors += more
    replaced = {p.name for p in site}
    catalog = Catalog((*(p for p in shipped if p.name not in replaced), *site))
    errors += _check_catalog(catalog)
    if errors:
        raise ProfilesInvalid(errors)
    return catalog


@functools.cache
def shipped_catalog() -> Catalog:
    """The profiles that ship with linkwatch (read once per process; they never change)."""
    return load_catalog(None)


def _read_dir(directory: Path) -> tuple[list[Profile], list[ProfileError]]:
    profiles, errors = [], []
    names: dict[str, Path] = {}
    for path in sorted(directory.glob("*.yaml")):
        profile, found = read_profile(path)
        errors += found
        if profile is None:
            continue
        if profile.name in names:
            errors.append(ProfileError(path, None, f"profile {profile.name!r} is also "
                                       f"defined in {names[profile.name]}"))
            continue
        names[profile.name] = path
        profiles.append(profile)
    return profiles, errors


def _check_catalog(catalog: Catalog) -> list[ProfileError]:
    """What only the profiles together can show: includes, and one type per field."""
    errors = []
    types: dict[tuple[str, str], tuple[str, Profile]] = {}
    tags: dict[str, set[str]] = {}
    for profile in catalog.profiles:
        for name in profile.include:
            if catalog.named(name) is None:
                close = difflib.get_close_matches(name, catalog.names, n=1)
                errors.append(ProfileError(Path(profile.source), None,
                                           f"includes unknown profile {name!r}",
                                           f"did you mean {close[0]!r}?" if close else None))
        for group in profile.groups:
            tags.setdefault(group.measurement, set()).update(group.tag_names)
    for profile in catalog.profiles:
        if _includes_itself(catalog, profile):
            errors.append(ProfileError(Path(profile.source), None,
                                       f"profile {profile.name!r} includes itself"))
        for group, m in profile.metrics():
            key = (group.measurement, m.field)
            if key in types and types[key][0] != m.type:
                other = types[key][1]
                errors.append(ProfileError(
                    Path(profile.source), m.line,
                    f"{group.measurement}.{m.field} is {m.type} here but {types[key][0]} in "
                    f"profile {other.name!r} ({other.source})",
                    "InfluxDB keeps one type per field: use the same type"))
            types.setdefault(key, (m.type, profile))
            if m.field in tags[group.measurement]:
                errors.append(ProfileError(Path(profile.source), m.line,
                                           f"{group.measurement}.{m.field} is a tag elsewhere",
                                           "a name is either a tag or a field"))
    return errors


def _includes_itself(catalog: Catalog, profile: Profile) -> bool:
    pending, seen = list(profile.include), set()
    while pending:
        name = pending.pop()
        if name == profile.name:
            return True
        if name in seen or (included := catalog.named(name)) is None:
            continue
        seen.add(name)
        pending += included.include
    return False
