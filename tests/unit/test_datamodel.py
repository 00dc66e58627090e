"""The data model the importer checks points against is the one docs/data-model.md shows."""

from __future__ import annotations

from linkwatch.agent.datamodel.measurements import data_model
from linkwatch.agent.datamodel.model import measurements
from linkwatch.collector.metrics import EVERY, TYPES
from linkwatch.collector.sample import Sample


def test_the_importer_knows_every_measurement_of_the_metrics_tables_with_its_types():
    """What `spool import` accepts is what the tables (and so docs/data-model.md) say."""
    table = data_model()
    known = measurements()
    for name in table.measurements():
        if name == EVERY:
            continue
        for row in table.of(name):
            if "<" in row.name:
                continue
            if row.kind == "tag":
                assert row.name in known[name].tags, (name, row.name)
            elif len(row.types) == 1:
                assert known[name].fields[row.name] is TYPES[row.types[0]], (name, row.name)
    assert {"agent", "site"} <= known["ping"].tags
    assert known["snmp"].declared == (int, float, str)


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
