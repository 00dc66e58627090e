"""Device profiles: each shipped profile against a recording of its device, the profile as
its own documented metrics table, and every mistake in a profile file named with its line.

The recordings are the same files snmpsim serves in tests/integration/test_profiles_snmpsim.py,
read here as the SNMP client would have returned them, so the evaluation is tested without a
server and the integration test adds only the wire.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from linkwatch.agent.config import ConfigError, load_config
from linkwatch.collector.metrics import load_table
from linkwatch.collector.sample import Sample
from linkwatch.collector.snmp.profiles import ProfilesInvalid, load_catalog, shipped_catalog
from linkwatch.collector.snmp.profiles.evaluate import evaluate, plan, text
from linkwatch.collector.snmp.profiles.loader import read_profile
from linkwatch.collector.snmp.profiles.table import markdown, metric_rows
from tests.fixtures.snmprec_values import read_snmprec, walk

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures" / "snmprec"
PYTHON_TYPE = {"int": int, "float": float, "string": str}


def _snmpsim_data(name: str) -> Path:
    snmpsim_data = pytest.importorskip("snmpsim_data")
    base = Path(snmpsim_data.__file__).parent / "data" / name
    plain = base.with_name(base.name + ".snmprec")
    return plain if plain.exists() else base.with_name(base.name + ".snmprec.bz2")


# profile, recording, fields the profile documents that this recording does not hold (why)
RECORDINGS = {
    "ubiquiti-m5": ("ubiquiti-airmax", lambda: _snmpsim_data("network/wifi/ubiquiti-m5"),
                    {"tx_bytes", "rx_bytes", "connected_s"}),   # airOS 5.5: no counters
    "eaton-93e-80": ("ups-mib", lambda: _snmpsim_data("UPS/eaton-93e-80"), set()),
    "apc-8932 (rack PDU)": ("apc-powernet", lambda: _snmpsim_data("UPS/apc-8932"),
                            # the UPS half of PowerNet-MIB: a PDU has none of it
                            {"on_battery", "output_status", "battery_status", "battery_low",
                             "seconds_on_battery", "charge_pct", "battery_temperature_c",
                             "minutes_left", "battery_replace", "input_frequency_hz",
                             "input_fail_cause", "output_voltage_v", "output_load_pct"}),
    "apc smart-ups": ("apc-powernet", lambda: FIXTURES / "apc_smart_ups" / "1.snmprec",
                      {"power_w", "apparent_power_va", "power_factor", "energy_kwh",
                       "load_state", "current_a"}),     # the rack PDU half
    "paloalto-pa-5000": ("router-health",
                         lambda: _snmpsim_data("network/firewall/paloalto-pa-5000"),
                         {"voltage_v"}),                  # it has fans and thermometers only
    "mikrotik routeros": ("mikrotik-routeros",
                          lambda: FIXTURES / "mikrotik_routeros" / "1.snmprec",
                          {"noise_dbm", "stations", "fan_rpm", "current_a", "power_w"}),
                          # a station, not an AP; no fan, no current or power gauge
}


def emitted(profile_name: str, recording: Path) -> list[Sample]:
    catalog = shipped_catalog()
    profiles = catalog.with_includes(catalog.named(profile_name))
    values = read_snmprec(recording)
    need = plan(profiles)
    scalars = {s: values[s] for s in need.scalars if s in values}
    return evaluate(profiles, scalars, walk(values, need.columns), device="dev", time_ns=1)


@pytest.mark.parametrize(("profile_name", "recording", "not_held"), [
    (p, r, n) for p, r, n in RECORDINGS.values()], ids=list(RECORDINGS))
def test_every_field_from_a_recording_is_in_the_profiles_table_and_none_is_missing(
        profile_name, recording, not_held):
    """The contract: every emitted tag and field is in the profile's documented table with
    its type, and every documented field is emitted unless the recording lacks it."""
    catalog = shipped_catalog()
    rows = [r for p in catalog.with_includes(catalog.named(profile_name))
            for r in metric_rows(p)]
    samples = emitted(profile_name, recording())
    assert samples
    documented = {(r.measurement, r.kind, r.name): r.type for r in rows}
    seen = set()
    for s in samples:
        for tag in s.tags:
            assert (s.measurement, "tag", tag) in documented, (s.measurement, tag)
        for name, value in s.fields.items():
            assert (s.measurement, "field", name) in documented, (s.measurement, name)
            wanted = PYTHON_TYPE[documented[(s.measurement, "field", name)]]
            assert type(value) is wanted, f"{s.measurement}.{name}: {type(value).__name__}"
            seen.add(name)
    own = {r.name for r in metric_rows(catalog.named(profile_name)) if r.kind == "field"}
    assert own - seen == not_held
    assert not (seen & not_held)


def _one(samples, measurement, **tags):
    found = [s for s in samples if s.measurement == measurement
             and all(s.tags.get(k) == v for k, v in tags.items())
             and set(s.tags) - {"device"} == set(tags)]
    assert len(found) == 1, [dict(s.tags) for s in samples if s.measurement == measurement]
    return found[0].fields


def test_ubiquiti_m5_reads_in_documented_units():
    samples = emitted("ubiquiti-airmax", RECORDINGS["ubiquiti-m5"][1]())
    link = _one(samples, "radio", radio="1")
    assert (link["signal_dbm"], link["noise_dbm"], link["ccq_pct"]) == (-64.0, -101.0, 99.0)
    assert link["tx_rate_bps"] == 162e6 and link["rx_rate_bps"] == 120e6   # kbit/s × 1000
    assert (link["airmax_quality_pct"], link["airmax_capacity_pct"]) == (71.0, 41.0)
    assert (link["frequency_mhz"], link["stations"]) == (5860.0, 1)
    station = _one(samples, "radio", radio="1", station="68:72:51:00:34:25",
                   station_name="patrikeevo_skl")      # NULs after the name are dropped
    assert (station["signal_dbm"], station["distance_m"], station["ccq_pct"]) == (-64.0, 630.0,
                                                                                   99.0)


def test_ups_mib_and_powernet_read_battery_and_mains():
    eaton = emitted("ups-mib", RECORDINGS["eaton-93e-80"][1]())
    ups = _one(eaton, "power")
    assert (ups["on_battery"], ups["output_source"], ups["charge_pct"]) == (0, 3, 100.0)
    assert ups["minutes_left"] == 1092.0 and ups["battery_voltage_v"] == 521.0   # 0.1 V
    assert _one(eaton, "power", line="3")["input_voltage_v"] == 233.0
    apc = _one(emitted("apc-powernet", FIXTURES / "apc_smart_ups" / "1.snmprec"), "power")
    assert (apc["on_battery"], apc["output_status"], apc["charge_pct"]) == (0, 2, 100.0)
    assert apc["minutes_left"] == 31.0             # 186000 TimeTicks
    pdu = emitted("apc-powernet", RECORDINGS["apc-8932 (rack PDU)"][1]())
    assert _one(pdu, "power", phase="1") == {"input_voltage_v": 121.0, "current_a": 1.4,
                                             "power_w": 160.0, "load_state": 2}
    on_battery = _one(emitted("ups-mib", FIXTURES / "ups_on_battery" / "2.snmprec"), "power")
    assert (on_battery["on_battery"], on_battery["output_source"]) == (1, 5)


def test_sensors_scale_by_the_device_and_keep_only_their_kind():
    samples = emitted("router-health", RECORDINGS["paloalto-pa-5000"][1]())
    temperatures = {s.tags["sensor"]: s.fields["temperature_c"] for s in samples
                    if "temperature_c" in s.fields}
    assert temperatures == {"Temperature @ 10G Phys [U171]": 23.0,
                            "Temperature @ Jaguar [U172]": 34.0,
                            "Temperature @ Tiger [U173]": 26.0,
                            "Temperature @ Dune [U174]": 24.0}
    fans = [s for s in samples if "fan_rpm" in s.fields]
    assert len(fans) == 10 and not any("temperature_c" in s.fields for s in fans)
    config_partition = _one(samples, "sensor", storage="40",
                            volume="Slot-0 Management Config Partition")
    assert config_partition["used_pct"] == pytest.approx(100 * 3092500 / 7882448)
    assert config_partition["size_bytes"] == 7882448 * 1024
    # packet buffers are neither disk nor RAM: not reported
    assert not [s for s in samples if s.tags.get("storage") == "1010"]


def test_mikrotik_recording_reads_radio_health_and_lte():
    samples = emitted("mikrotik-routeros", FIXTURES / "mikrotik_routeros" / "1.snmprec")
    station = _one(samples, "radio", interface="4", mode="station")
    assert (station["signal_dbm"], station["ccq_pct"], station["tx_rate_bps"]) == (-68.0, 86.0,
                                                                                   65e6)
    peer = _one(samples, "radio", station="4c:5e:0c:11:22:33", interface="4",
                station_name="QuanLan-AP")
    assert (peer["snr_db"], peer["connected_s"]) == (28.0, 86400.0)
    lte = _one(samples, "radio", interface="2", mode="lte")
    assert (lte["rsrp_dbm"], lte["rsrq_db"], lte["sinr_db"]) == (-95.0, -11.0, 8.0)
    board = _one(samples, "sensor", sensor="board")
    assert (board["voltage_v"], board["temperature_c"]) == (24.1, 37.0)     # tenths
    assert _one(samples, "sensor", sensor="voltage") == {"voltage_v": 24.1}  # dV gauge
    assert _one(samples, "sensor", cpu="1") == {"cpu_pct": 12.0}          # included profile


def test_hostile_device_values_never_forge_a_tag_or_a_field(tmp_path):
    profile = _profile(tmp_path, """\
        name: test
        title: test
        groups:
          - measurement: radio
            index: [{tag: station, type: mac}]
            tags: [{tag: station_name, oid: .1.3.6.1.4.1.9.1.2, description: name}]
            metrics:
              - {field: signal_dbm, oid: .1.3.6.1.4.1.9.1.3, type: float, description: s}
        """)
    good, short = (1, 2, 3, 4, 5, 6), (1, 2, 3)
    columns = {(1, 3, 6, 1, 4, 1, 9, 1, 2): {good: b"evil\nname,x=1 " + b"A" * 500,
                                             short: b"x"},
               (1, 3, 6, 1, 4, 1, 9, 1, 3): {good: b"not a number", short: -50}}
    [sample] = evaluate([profile], {}, columns, device="d", time_ns=1) or [None]
    assert sample is None          # no value that is a number: no point; the short index: skipped
    columns[(1, 3, 6, 1, 4, 1, 9, 1, 3)][good] = b"-47.5"    # a number given as text
    [sample] = evaluate([profile], {}, columns, device="d", time_ns=1)
    assert sample.fields == {"signal_dbm": -47.5}
    assert sample.tags["station"] == "01:02:03:04:05:06"
    name = sample.tags["station_name"]
    assert "\n" not in name and name.startswith("evil name,x=1") and len(name) == 128
    assert text(b"\x00\x01ok\x7f") == "ok"


def test_a_counter_no_field_can_hold_costs_only_itself(tmp_path):
    """Firmware that reports a Counter64 as all ones: that field is left out, the rest of
    the point is written (InfluxDB's integers stop at 2^63 - 1)."""
    profile = _profile(tmp_path, """\
        name: test
        title: test
        groups:
          - measurement: radio
            metrics:
              - {field: rx_bytes, oid: .1.3.6.1.4.1.9.1.4.0, kind: counter, type: int,
                 description: r}
              - {field: signal_dbm, oid: .1.3.6.1.4.1.9.1.3.0, type: float, description: s}
        """)
    scalars = {(1, 3, 6, 1, 4, 1, 9, 1, 4, 0): 2**64 - 1, (1, 3, 6, 1, 4, 1, 9, 1, 3, 0): -61}
    [sample] = evaluate([profile], scalars, {}, device="d", time_ns=1)
    assert sample.fields == {"signal_dbm": -61.0}


def test_the_longest_sysobjectid_prefix_wins_and_includes_follow():
    catalog = shipped_catalog()
    assert [p.name for p in catalog.choose("auto", "1.3.6.1.4.1.14988.1")] == [
        "mikrotik-routeros", "router-health"]
    assert [p.name for p in catalog.choose("auto", ".1.3.6.1.4.1.41112.1.4")] == [
        "ubiquiti-airmax"]
    assert catalog.choose("auto", "1.3.6.1.4.1.8072.3.2.10") == ()   # net-snmp: none
    assert catalog.choose("auto", "not an oid") == ()
    assert [p.name for p in catalog.choose("ups-mib", None)] == ["ups-mib"]
    assert catalog.choose("none", "1.3.6.1.4.1.41112.1.4") == ()


def test_docs_list_every_shipped_profile_as_generated_from_the_files():
    doc = (REPO / "docs" / "profiles.md").read_text(encoding="utf-8")
    begin, end = "<!-- shipped profiles: generated -->", "<!-- end of shipped profiles -->"
    section = doc[doc.index(begin) + len(begin):doc.index(end)].strip()
    assert section == markdown(shipped_catalog()).strip(), (
        "docs/profiles.md is out of date: paste markdown(shipped_catalog()) between the markers")


def test_the_fields_the_queries_read_have_one_type_in_every_profile_and_in_the_data_model():
    """collector/snmp/profiles/metrics.csv names the fields the queries and the report read
    (docs/data-model.md is generated from it); every shipped profile that writes one writes
    it with that type."""
    table = load_table("linkwatch.collector.snmp.profiles", "metrics.csv")
    named = {(r.measurement, r.name): r.types for r in table.rows
             if r.kind == "field" and "<" not in r.name}
    assert {("radio", "signal_dbm"), ("radio", "noise_dbm"), ("radio", "ccq_pct"),
            ("radio", "tx_rate_bps"), ("radio", "rx_rate_bps"), ("power", "on_battery"),
            ("power", "charge_pct")} <= set(named)
    as_stored = {"int": "int", "float": "float", "string": "str"}
    for (measurement, name), types in named.items():
        found = {as_stored[r.type] for p in shipped_catalog().profiles for r in metric_rows(p)
                 if (r.measurement, r.name) == (measurement, name)}
        assert found and found <= set(types), (measurement, name, found)


def _profile(tmp_path: Path, text_: str, name: str = "p.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text_), encoding="utf-8")
    profile, errors = read_profile(path)
    assert errors == [] and profile is not None, errors
    return profile


MISTAKES = {
    "unknown key": ("""\
        name: x
        title: x
        groups:
          - measurement: radio
            metrics:
              - {field: a, oid: .1.3.6.1.2.1.1.3.0, type: float, descripton: d}  #<
        """, "unknown key 'descripton'", "did you mean 'description'?"),
    "scalar without .0": ("""\
        name: x
        title: x
        groups:
          - measurement: power
            metrics:
              - {field: a, oid: .1.3.6.1.2.1.33.1.2.4, type: float, description: d}  #<
        """, "a scalar's OID is its instance and ends in .0", "write .1.3.6.1.2.1.33.1.2.4.0"),
    "a measurement of its own": ("""\
        name: x
        title: x
        groups:
          - measurement: env  #<
            metrics: []
        """, "measurement 'env' is not one of radio, power, sensor", None),
    "a state stored as float": ("""\
        name: x
        title: x
        groups:
          - measurement: power
            metrics:
              - field: a
                oid: .1.3.6.1.2.1.33.1.4.1.0
                type: float  #<
                kind: state
                true_when: [5]
                description: d
        """, "a state is stored as int", "write type: int"),
    "not a numeric OID": ("""\
        name: x
        title: x
        groups:
          - measurement: power
            metrics:
              - {field: a, oid: upsOutputSource.0, type: int, description: d}  #<
        """, "is not a numeric OID", None),
    "broken YAML": ("""\
        name: x
        title: [x  #<
        """, "not valid YAML", None),
}


@pytest.mark.parametrize(("text_", "message", "hint"), MISTAKES.values(), ids=MISTAKES.keys())
def test_a_mistake_in_a_profile_names_its_file_line_and_fix(tmp_path, text_, message, hint):
    path = tmp_path / "site.yaml"
    path.write_text(textwrap.dedent(text_), encoding="utf-8")
    profile, errors = read_profile(path)
    assert profile is None and errors
    error = errors[0]     # a misspelt key is also a missing one: both are said, first this
    lines = textwrap.dedent(text_).splitlines()
    marked = next(n for n, t in enumerate(lines, 1) if "#<" in t)
    assert message in error.message
    assert error.path == path and error.line in (marked, marked + 1)   # YAML marks the next
    assert hint is None or hint in (error.hint or "")
    assert str(error).startswith(f"{path}:{error.line}: ")


def test_a_site_profile_replaces_a_shipped_one_and_must_keep_field_types(tmp_path):
    site = tmp_path / "profiles"
    site.mkdir()
    (site / "ups.yaml").write_text(textwrap.dedent("""\
        name: ups-mib
        title: our UPSs
        sysobjectid: [.1.3.6.1.4.1.99999]
        groups:
          - measurement: power
            metrics:
              - {field: charge_pct, oid: .1.3.6.1.4.1.99999.1.0, type: float, description: c}
        """), encoding="utf-8")
    catalog = load_catalog(site)
    assert catalog.named("ups-mib").title == "our UPSs"
    assert len(catalog.profiles) == len(shipped_catalog().profiles)
    (site / "ups.yaml").write_text((site / "ups.yaml").read_text().replace(
        "type: float", "type: int"), encoding="utf-8")
    with pytest.raises(ProfilesInvalid) as caught:
        load_catalog(site)
    [error] = caught.value.errors
    assert error.path == site / "ups.yaml" and error.line == 7
    assert "power.charge_pct is int here but float" in error.message


def test_the_config_names_an_unknown_profile_and_a_broken_profile_file(tmp_path):
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "ours.yaml").write_text("name: ours\ntitle: t\ngroups: 3\n",
                                                     encoding="utf-8")
    path = tmp_path / "config.yaml"
    path.write_text(textwrap.dedent("""\
        agent: {name: a1, site: lan, snmp_profiles: profiles}
        checks:
          snmp:
            - {name: radio, address: 192.0.2.1, profile: ubiquiti-airmx}
        """), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})
    text_ = str(caught.value)
    assert f"{tmp_path / 'profiles' / 'ours.yaml'}:3:" in text_ and "groups: expected a list" \
        in text_
    (tmp_path / "profiles" / "ours.yaml").unlink()
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})
    [problem] = caught.value.problems
    assert (problem.line, problem.key) == (4, "checks.snmp[0].profile")
    assert problem.message == "unknown profile 'ubiquiti-airmx'"
    assert problem.hint == "did you mean 'ubiquiti-airmax'?"


def test_a_loaded_config_hands_its_profiles_to_every_snmp_check(tmp_path):
    site = tmp_path / "profiles"
    site.mkdir()
    (site / "ours.yaml").write_text(textwrap.dedent("""\
        name: our-radio
        title: our radio
        groups:
          - measurement: radio
            metrics:
              - {field: signal_dbm, oid: .1.3.6.1.4.1.99999.2.0, type: float, description: s}
        """), encoding="utf-8")
    path = tmp_path / "config.yaml"
    path.write_text(textwrap.dedent("""\
        agent: {name: a1, site: lan, snmp_profiles: ./profiles}
        checks:
          snmp:
            - {name: radio, address: 192.0.2.1, profile: our-radio}
        """), encoding="utf-8")
    [check] = load_config(path, environ={}).checks.of("snmp")
    assert check.spec.profiles.named("our-radio") is not None
    assert [p.name for p in check.spec.profiles.choose(check.spec.profile, None)] == [
        "our-radio"]
