"""What the probes write, as data: one table per probe, which the docs are generated from and
the contract test (tests/contract) holds every emitted point to.

A table is a CSV file shipped in a package (`ProbeKind.metrics` names a probe's), one row
per measurement, tag or field:

    measurement,kind,name,type,unit,description,absent,untested
    ping,measurement,,,,one point per check and cycle,,
    ping,tag,target,str,,the ping check's `name`,,
    ping,field,rtt_avg_ms,float,ms,mean round trip,no reply came back,

- `kind`: `measurement` (one row describing the measurement itself), `tag` or `field`.
- `type`: `int`, `float`, `str` or `bool` (a tag is always `str`); several joined by `|`
  when the device decides (`int|float|str`).
- `name`: snake_case; a word in angle brackets stands for a name the config or a device
  profile gives (`<field>`, `<field>_per_s`, `<tag>`). A tag or field matches such a row
  only when no row has its very name.
- `absent`: when the tag or field is left out of a point; empty: every point carries it.
- `untested`: why the contract test cannot make the probe emit it (a field only some
  devices have); empty: the contract test must see it. Only rows with a reason may go unseen.

The measurement `*` holds what every point carries, whatever its measurement (the `agent`
and `site` tags the agent adds). More rows come from any package that ships a table of
the same columns, or from records of those columns (`from_records`, e.g. the rows a device
profile file holds); `+` joins tables (a (measurement, kind, name) given twice is an
error), and a table that adds fields to another's measurement is `complete()` once joined.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources

from linkwatch.collector.kind import ProbeKind

COLUMNS = ("measurement", "kind", "name", "type", "unit", "description", "absent", "untested")
KINDS = ("measurement", "tag", "field")
TYPES: Mapping[str, type] = {"int": int, "float": float, "str": str, "bool": bool}
EVERY = "*"                                   # the measurement of what every point carries

_PLACEHOLDER = re.compile(r"<[a-z]+>")        # a name the config or a profile gives
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_MEASUREMENT = re.compile(r"^([a-z][a-z0-9_]*|\*)$")


class MetricsError(ValueError):
    """A table that cannot be read; the message names the file and line."""


@dataclass(frozen=True)
class Metric:
    """One row: a measurement, or one of its tags or fields."""

    measurement: str
    kind: str                     # measurement, tag or field
    name: str                     # "" for a measurement row
    types: tuple[str, ...]        # ("float",); () for a measurement row
    unit: str
    description: str
    absent: str                   # when it is left out; "" = every point carries it
    untested: str                 # why the contract test cannot see it; "" = it must
    where: str                    # file:line, for messages

    def matches(self, name: str) -> bool:
        """Whether a tag or field called `name` is this row (`<field>` matches any name)."""
        parts = _PLACEHOLDER.split(self.name)
        if len(parts) == 1:
            return name == self.name
        pattern = r"[A-Za-z_]\w*".join(re.escape(p) for p in parts)
        return re.fullmatch(pattern, name) is not None

    def accepts(self, value: object) -> bool:
        """Whether `value` has one of the row's types (a bool is not an int here)."""
        return any(type(value) is TYPES[t] for t in self.types)


@dataclass(frozen=True)
class MetricsTable:
    """Rows from one or more tables, in the order they were written."""

    rows: tuple[Metric, ...] = ()

    def __post_init__(self) -> None:
        seen: dict[tuple[str, str, str], Metric] = {}
        for row in self.rows:
            first = seen.setdefault((row.measurement, row.kind, row.name), row)
            if first is not row:
                what = " ".join(w for w in (row.measurement, row.kind, row.name) if w)
                raise MetricsError(f"{row.where}: {what} is already in {first.where}")

    def __add__(self, other: MetricsTable) -> MetricsTable:
        return MetricsTable(self.rows + other.rows)

    def complete(self) -> MetricsTable:
        """The table, once every measurement it has rows for has its `measurement` row (a
        table that only adds rows to another's measurements is complete once joined)."""
        described = {r.measurement for r in self.rows if r.kind == "measurement"}
        for row in self.rows:
            if row.measurement not in described:
                raise MetricsError(f"{row.where}: measurement {row.measurement!r} has no "
                                   "`measurement` row describing it")
        return self

    def measurements(self) -> tuple[str, ...]:
        """The measurements described, in table order (`*` included when present)."""
        return tuple(r.measurement for r in self.rows if r.kind == "measurement")

    def of(self, measurement: str) -> tuple[Metric, ...]:
        """The tag and field rows of one measurement."""
        return tuple(r for r in self.rows if r.measurement == measurement
                     and r.kind != "measurement")

    def describing(self, measurement: str) -> Metric:
        return next(r for r in self.rows if r.measurement == measurement
                    and r.kind == "measurement")

    def matching(self, measurement: str, kind: str, name: str) -> tuple[Metric, ...]:
        """The rows a tag or field of a point is (its measurement's, and every point's): the
        one of that name, else those whose `<field>` stands for it."""
        rows = [r for r in self.rows if r.measurement in (measurement, EVERY)
                and r.kind == kind and r.matches(name)]
        named = tuple(r for r in rows if r.name == name)
        return named or tuple(rows)


def read_table(text: str, source: str) -> MetricsTable:
    """A table from CSV text; `source` names it in errors (`collector/ping/metrics.csv`)."""
    reader = csv.DictReader(io.StringIO(text))
    if tuple(reader.fieldnames or ()) != COLUMNS:
        raise MetricsError(f"{source}:1: the header must be {','.join(COLUMNS)}")
    return MetricsTable(tuple(_metric(record, f"{source}:{reader.line_num}")
                              for record in reader))


def from_records(records: Iterable[Mapping[str, str]], source: str) -> MetricsTable:
    """A table from mappings with the CSV's columns (e.g. rows a profile file holds);
    `source` names them in errors, with the row's number."""
    return MetricsTable(tuple(_metric(r, f"{source} row {n}")
                              for n, r in enumerate(records, 1)))


def load_table(package: str, name: str) -> MetricsTable:
    """The table `name` (a path inside the package) shipped with `package`."""
    resource = resources.files(package).joinpath(name)
    try:
        text = resource.read_text(encoding="utf-8")
    except OSError as e:
        raise MetricsError(f"{package}:{name}: cannot read the metrics table: {e}") from e
    return read_table(text, str(resource))


def probe_metrics(kind: ProbeKind) -> MetricsTable:
    """Every row a probe kind's points are held to: the tables `kind.metrics` names.

    An entry is a file in the probe's package (the package of `kind.module`), or
    `package:file` for one shipped elsewhere."""
    own = kind.module.rpartition(".")[0]
    table = MetricsTable()
    for entry in kind.metrics:
        package, _, name = entry.rpartition(":")
        table += load_table(package or own, name)
    return table.complete()


def _metric(record: Mapping[str, str | None], where: str) -> Metric:
    cells = {c: (record.get(c) or "").strip() for c in COLUMNS}
    extra = [k for k in record if k not in COLUMNS]
    if extra or None in record.values():
        raise MetricsError(f"{where}: expected the columns {','.join(COLUMNS)} "
                           "(a comma inside a cell needs the cell in double quotes)")
    measurement, kind, name = cells["measurement"], cells["kind"], cells["name"]
    if not _MEASUREMENT.match(measurement):
        raise MetricsError(f"{where}: measurement {measurement!r} must be snake_case")
    if kind not in KINDS:
        raise MetricsError(f"{where}: kind {kind!r} must be one of {', '.join(KINDS)}")
    types = tuple(t for t in cells["type"].split("|") if t)
    if kind == "measurement":
        if name or types or cells["unit"] or cells["absent"] or cells["untested"]:
            raise MetricsError(f"{where}: a measurement row has only a description")
    else:
        if not _NAME.match(_PLACEHOLDER.sub("x", name)):
            raise MetricsError(f"{where}: {kind} name {name!r} must be snake_case "
                               "(a placeholder is written <field>)")
        unknown = [t for t in types if t not in TYPES]
        if not types or unknown:
            raise MetricsError(f"{where}: type {cells['type']!r} must be one or more of "
                               f"{', '.join(TYPES)}, joined by |")
        if kind == "tag" and types != ("str",):
            raise MetricsError(f"{where}: a tag's type is str (line protocol tags are text)")
    if not cells["description"]:
        raise MetricsError(f"{where}: the description is empty")
    return Metric(measurement, kind, name, types, cells["unit"], cells["description"],
                  cells["absent"], cells["untested"], where)
