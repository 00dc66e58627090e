"""Holding points to their metrics tables (collector/metrics.py): what a contract test asserts.

    assert_holds(points, data_model(), ("ping", EVERY))

Only the points of `measurements` are judged, against their measurement's rows and the `*`
rows (the tags every point carries); `*` among `measurements` also requires its rows to be
seen. A row is seen when a point carries a tag or field it matches, with a value of one of
its types.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from linkwatch.collector import Sample
from linkwatch.collector.metrics import EVERY, Metric, MetricsTable


def breaches(points: Iterable[Sample], table: MetricsTable,
             measurements: Sequence[str]) -> list[str]:
    """What the points break of the table, one line each; [] when they hold to it."""
    found: list[str] = []
    seen: set[Metric] = set()
    counted = dict.fromkeys((m for m in measurements if m != EVERY), 0)
    for point in points:
        if point.measurement not in counted:
            continue
        counted[point.measurement] += 1
        found += _undocumented(point, table, seen)
        found += _missing(point, table)
    for measurement in measurements:
        if measurement != EVERY and not counted[measurement]:
            found.append(f"{measurement}: no point was written")
            continue
        for row in table.of(measurement):
            if row.untested and row in seen:
                found.append(f"{_name(row)} was written although the table says it cannot "
                             f"be ({row.untested!r}): clear `untested` in {row.where}")
            elif not row.untested and row not in seen:
                found.append(f"{_name(row)} is documented but no point had it ({row.where}); "
                             "if no real server can make it, say why in `untested`")
    return found


def assert_holds(points: Iterable[Sample], table: MetricsTable,
                 measurements: Sequence[str]) -> None:
    """Fail with every breach, one per line."""
    found = breaches(points, table, measurements)
    assert not found, "the points break their metrics tables:\n" + "\n".join(found)


def _undocumented(point: Sample, table: MetricsTable, seen: set[Metric]) -> list[str]:
    found = []
    for kind, items in (("tag", point.tags), ("field", point.fields)):
        for name, value in items.items():
            rows = table.matching(point.measurement, kind, name)
            fitting = [r for r in rows if r.accepts(value)]
            if not rows:
                found.append(f"{point.measurement} {kind} {name}={value!r} is not in the table")
            elif not fitting:
                types = " or ".join(t for r in rows for t in r.types)
                found.append(f"{point.measurement} {kind} {name}={value!r} is "
                             f"{type(value).__name__}, the table says {types} "
                             f"({rows[0].where})")
            seen.update(fitting)
    return found


def _missing(point: Sample, table: MetricsTable) -> list[str]:
    found = []
    for row in (*table.of(point.measurement), *table.of(EVERY)):
        names = point.tags if row.kind == "tag" else point.fields
        if not row.absent and not any(row.matches(n) for n in names):
            found.append(f"{point.measurement} point without {row.kind} {row.name}, which the "
                         f"table never lets be absent ({row.where}): {point}")
    return found


def _name(row: Metric) -> str:
    return f"{row.measurement} {row.kind} {row.name}"
