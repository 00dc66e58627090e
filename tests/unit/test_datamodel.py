"""The data model the importer checks points against is the one docs/data-model.md shows."""

from __future__ import annotations

from pathlib import Path

from linkwatch.agent.datamodel.model import measurements
from linkwatch.collector.sample import Sample

DOC = Path(__file__).resolve().parents[2] / "docs" / "data-model.md"
TYPES = {"int": int, "float": float, "string": str}


def _documented() -> dict[str, tuple[set[str], dict[str, type]]]:
    table: dict[str, tuple[set[str], dict[str, type]]] = {}
    for line in DOC.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 6 and cells[1] in ("tag", "field"):
            tags, fields = table.setdefault(cells[0], (set(), {}))
            if cells[1] == "tag":
                tags.add(cells[2])
            else:
                fields[cells[2]] = TYPES[cells[3]]
    return table


PROFILED = {"radio", "power", "sensor"}     # more tags and fields per device profile


def test_every_documented_measurement_tag_and_field_is_known_with_its_type():
    known = {name: (set(m.tags), dict(m.fields)) for name, m in measurements().items()}
    documented = _documented()
    assert set(known) == set(documented)
    for name, (tags, fields) in documented.items():
        if name in PROFILED:
            assert tags <= known[name][0] and fields.items() <= known[name][1].items(), name
        else:
            assert known[name] == (tags, fields), name


def test_a_profiled_measurement_takes_its_fields_and_row_tags_from_the_profiles():
    from linkwatch.collector.snmp.profiles import shipped_catalog

    radio = measurements(shipped_catalog())["radio"]
    station = [m for p in shipped_catalog().profiles for g in p.groups for m in g.metrics
               if g.measurement == "radio"]
    assert station and all(m.field in radio.fields for m in station)
    assert "station" in radio.tags or "radio" in radio.tags


def test_a_point_outside_the_model_is_named_for_what_is_wrong():
    ping = measurements()["ping"]
    point = Sample("ping", {"agent": "a", "site": "s", "target": "gw"}, {"up": 1}, 1)
    assert ping.problem(point) is None
    assert ping.problem(Sample("ping", point.tags, {"up": "poison"}, 1)) == \
        "field 'up' of ping is an integer, not a string"
    assert ping.problem(Sample("ping", point.tags, {"up": True}, 1)) == \
        "field 'up' of ping is an integer, not a boolean"
    assert ping.problem(Sample("ping", point.tags, {"upp": 1}, 1)) == "ping has no field 'upp'"
    assert ping.problem(Sample("ping", {**point.tags, "x": "1"}, {"up": 1}, 1)) == \
        "tag 'x' is not a tag of ping"
    snmp = measurements()["snmp"]
    assert snmp.problem(Sample("snmp", {"device": "r1"}, {"rx_level_dbm": -61.5}, 1)) is None
    assert snmp.problem(Sample("snmp", {"device": "r1"}, {"1x": 1}, 1)) == \
        "snmp has no field '1x'"
