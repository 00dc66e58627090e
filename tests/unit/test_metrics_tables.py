"""The metrics tables (collector/metrics.py): each probe's loads, says what its kind
declares, and a table that cannot be read is refused with its file and line."""

from __future__ import annotations

import pytest

from linkwatch.agent.datamodel.measurements import data_model
from linkwatch.collector.metrics import (
    EVERY,
    MetricsError,
    MetricsTable,
    from_records,
    probe_metrics,
    read_table,
)
from linkwatch.collector.registry import BUILTIN

HEADER = "measurement,kind,name,type,unit,description,absent,untested\n"


@pytest.mark.parametrize("probe", BUILTIN, ids=lambda p: p.kind)
def test_each_probe_kind_has_a_table_of_the_measurements_it_declares(probe):
    assert set(probe_metrics(probe).measurements()) == set(probe.measurements)


def test_the_data_model_holds_every_probe_then_the_agents_own():
    assert data_model().measurements() == (
        EVERY, "ping", "path", "interface", "device", "snmp", "radio", "power", "sensor",
        "host", "host_net", "linkwatch", "alert")


@pytest.mark.parametrize(("rows", "says"), [
    ("ping,measurement,,,,a point,,\nping,field,up,integer,,x,,\n",
     "t.csv:3: type 'integer' must be one or more of int, float, str, bool"),
    ("ping,measurement,,,,a point,,\nping,metric,up,int,,x,,\n",
     "t.csv:3: kind 'metric' must be one of measurement, tag, field"),
    ("ping,measurement,,,,a point,,\nping,tag,target,int,,x,,\n", "t.csv:3: a tag's type is str"),
    ("ping,measurement,,,,a point,,\nping,field,Up,int,,x,,\n", "t.csv:3: field name 'Up'"),
    ("ping,measurement,,,,a point,,\nping,field,up,int,,1 if up, else 0,,\n",
     "t.csv:3: expected the columns"),
    ("ping,measurement,,,,a point,,\nping,field,up,int,,,,\n", "t.csv:3: the description"),
    ("ping,measurement,,,,a point,,\nping,field,up,int,,x,,\nping,field,up,int,,y,,\n",
     "t.csv:4: ping field up is already in t.csv:3"),
], ids=["type", "kind", "tag type", "name", "unquoted comma", "no description", "twice"])
def test_a_bad_row_is_refused_with_its_file_and_line(rows, says):
    with pytest.raises(MetricsError, match="^" + says.replace("(", r"\(").replace(")", r"\)")):
        read_table(HEADER + rows, "t.csv")


def test_a_table_without_the_header_is_refused():
    with pytest.raises(MetricsError, match=r"^t.csv:1: the header must be measurement,kind"):
        read_table("measurement,kind,name\n", "t.csv")


def test_a_table_that_adds_to_anothers_measurement_is_complete_once_joined():
    """A device profile may ship rows of its own (here as records, e.g. read from its
    file): more fields and tags of `radio`, or a measurement of its own. Joined to the snmp
    probe's table they are held and documented like the probe's; a row the probe's table
    already has is refused with both places."""
    snmp = probe_metrics(next(p for p in BUILTIN if p.kind == "snmp"))
    extra = from_records([
        {"measurement": "radio", "kind": "field", "name": "airtime_pct", "type": "float",
         "unit": "%", "description": "share of airtime in use"},
        {"measurement": "link_budget", "kind": "measurement", "description": "one per link"},
        {"measurement": "link_budget", "kind": "field", "name": "margin_db", "type": "float",
         "unit": "dB", "description": "fade margin"},
    ], "profiles/radio.yaml")
    with pytest.raises(MetricsError, match="measurement 'radio' has no `measurement` row"):
        extra.complete()
    joined = (snmp + extra).complete()
    assert joined.measurements()[-1] == "link_budget"
    assert "airtime_pct" in [r.name for r in joined.of("radio")]
    assert [r.name for r in joined.matching("radio", "field", "airtime_pct")] == ["airtime_pct"]
    clash = from_records([{"measurement": "radio", "kind": "field", "name": "signal_dbm",
                           "type": "int", "description": "again"}], "profiles/bad.yaml")
    with pytest.raises(MetricsError, match=r"profiles/bad.yaml row 1: radio field signal_dbm "
                                           r"is already in /.*profiles/metrics.csv:\d+"):
        snmp + clash


def test_a_name_the_config_gives_matches_the_placeholder_row_only_when_no_row_names_it():
    table = data_model()
    [value] = table.matching("snmp", "field", "rx_level_dbm")
    assert value.name == "<field>" and value.accepts("text") and value.accepts(3)
    assert {r.name for r in table.matching("snmp", "field", "rx_per_s")} == {
        "<field>", "<field>_per_s"}
    assert [r.name for r in table.matching("snmp", "tag", "device")] == ["device"]
    assert [r.measurement for r in table.matching("ping", "tag", "site")] == [EVERY]
    assert table.matching("ping", "field", "rx_per_s") == ()


def test_a_complete_table_describes_every_measurement_it_has_rows_for():
    with pytest.raises(MetricsError,
                       match=r"^t\.csv:2: measurement 'ping' has no `measurement` row"):
        read_table(HEADER + "ping,field,up,int,,x,,\n", "t.csv").complete()


def test_an_empty_table_joins_as_nothing():
    assert (MetricsTable() + data_model()).rows == data_model().rows
