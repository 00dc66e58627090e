"""The contract test's judge, on points made up here: each kind of breach is caught, and
nothing else is. (No server: these show that tests/contract/test_metrics.py can fail.)"""

from __future__ import annotations

import pytest

from linkwatch.collector import Sample
from linkwatch.collector.metrics import EVERY, read_table
from tests.contract.breaches import breaches

TABLE = read_table("""\
measurement,kind,name,type,unit,description,absent,untested
*,measurement,,,,tags on every point,,
*,tag,agent,str,,the agent,,
echo,measurement,,,,one point per cycle,,
echo,tag,target,str,,the check's name,,
echo,field,up,int,0/1,1 when it answered,,
echo,field,rtt_ms,float,ms,round trip,no answer,
echo,field,ok,bool,,answered in time,no answer,
echo,field,<field>,int|str,,a value the config names,,
echo,field,radio_dbm,float,dBm,signal,some radios only,no recording has it
""", "echo.csv")


def point(tags: dict | None = None, **fields) -> Sample:
    return Sample("echo", {"agent": "a", "target": "t", **(tags or {})}, fields, 1)


GOOD = [point(up=1, rtt_ms=0.5, ok=True, extra=3), point(up=0, name="x")]


def test_points_that_hold_to_the_table_break_nothing():
    assert breaches(GOOD, TABLE, ["echo", EVERY]) == []


@pytest.mark.parametrize(("points", "says"), [
    ([*GOOD, point({"vlan": "7"}, up=1)], "echo tag vlan='7' is not in the table"),
    ([*GOOD, point(up=1.0)], "echo field up=1.0 is float, the table says int"),
    ([*GOOD, point(up=1, ok=1)], "echo field ok=1 is int, the table says bool"),
    ([*GOOD, point(up=True)], "echo field up=True is bool, the table says int"),
    ([*GOOD, point(rtt_ms=1.0)], "echo point without field up, which the table never lets"),
    ([*GOOD, Sample("echo", {"target": "t"}, {"up": 1}, 1)], "without tag agent"),
    ([point(up=1, extra=2)], "echo field rtt_ms is documented but no point had it"),
    ([*GOOD, point(up=1, radio_dbm=-50.0)], "echo field radio_dbm was written although"),
    ([], "echo: no point was written"),
], ids=["undocumented tag", "wrong type", "int for bool", "bool for int", "missing field",
        "missing common tag", "never seen", "untested but seen", "no point"])
def test_each_breach_is_named(points, says):
    found = breaches(points, TABLE, ["echo", EVERY])
    assert any(says in line for line in found), found


def test_a_field_the_config_names_is_held_to_the_placeholder_row():
    found = breaches([*GOOD, point(up=1, extra=1.5)], TABLE, ["echo"])
    assert found == ["echo field extra=1.5 is float, the table says int or str (echo.csv:9)"]


def test_only_the_measurements_asked_for_are_judged():
    other = Sample("other", {"agent": "a"}, {"anything": 1}, 1)
    assert breaches([*GOOD, other], TABLE, ["echo"]) == []
