"""The SNMP probe against snmpsim: real devices' recordings and stepped counter scenarios."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from linkwatch.collector.sample import ProbeContext, Sample
from linkwatch.collector.snmp import InterfaceSelection, SnmpCheck
from linkwatch.collector.snmp.probe import open_probes
from linkwatch.collector.units import Seconds, Secret
from tests.servers.snmpd import MemoryStore
from tests.servers.snmpsim import VENDOR_RECORDINGS

pytestmark = pytest.mark.integration

EVERY_INTERFACE = InterfaceSelection(include_loopback=True, include_down=True)


def check_for(server, community: str, **kw) -> SnmpCheck:
    # snmpsim answers slowly for big recordings: give each request time.
    kw.setdefault("request_timeout", Seconds(10))
    return SnmpCheck(name="sw1", address=server.host, port=server.port,
                     community=Secret(community), **kw)


async def one_cycle(check: SnmpCheck, store: MemoryStore, now_s: float) -> list[Sample]:
    """A cycle as the agent would run it, with the clock at `now_s` (one probe per step, so
    the saved counters carry the state from step to step as across agent restarts)."""
    async with contextlib.AsyncExitStack() as stack:
        ctx = ProbeContext(store=store, exit_stack=stack, time_ns=lambda: int(now_s * 1e9))
        collect = await open_probes([check], ctx)
        return await collect[check.name]()


def steps(server, scenario: str, n: int, **kw) -> list[list[Sample]]:
    """Poll `<scenario>/1` … `<scenario>/n`, a minute apart, as one device."""
    store = MemoryStore()
    return [asyncio.run(one_cycle(check_for(server, f"{scenario}/{i}", **kw), store,
                                  1_700_000_000 + 60 * i)) for i in range(1, n + 1)]


def interfaces(samples) -> dict[str, Sample]:
    return {s.tags["if_name"]: s for s in samples if s.measurement == "interface"}


def device(samples) -> Sample:
    [d] = [s for s in samples if s.measurement == "device"]
    return d


@pytest.mark.parametrize("recording", VENDOR_RECORDINGS)
def test_every_interface_of_a_real_device_with_name_alias_status_speed(snmpsim, recording):
    check = check_for(snmpsim, recording, interfaces=EVERY_INTERFACE)
    samples = asyncio.run(one_cycle(check, MemoryStore(), 1_700_000_000))
    assert device(samples).fields["up"] == 1
    ifs = [s for s in samples if s.measurement == "interface"]
    # The recording's own ifTable is the truth: one point per row, a speed where it has one.
    rec = _recorded(snmpsim.data_dir / f"{recording}.snmprec")
    rows = {oid.rsplit(".", 1)[1] for oid in rec if oid.startswith("1.3.6.1.2.1.2.2.1.1.")}
    assert {s.tags["if_index"] for s in ifs} == rows
    for s in ifs:
        i = s.tags["if_index"]
        assert s.tags["if_name"] and "if_alias" in s.tags
        assert s.fields["oper_status"] == int(rec[f"1.3.6.1.2.1.2.2.1.8.{i}"])
        assert s.fields["admin_status"] == int(rec[f"1.3.6.1.2.1.2.2.1.7.{i}"])
        assert "in_octets" in s.fields
        knows_speed = int(rec.get(f"1.3.6.1.2.1.2.2.1.5.{i}", 0)) or int(
            rec.get(f"1.3.6.1.2.1.31.1.1.1.15.{i}", 0))
        assert ("speed_bps" in s.fields) == bool(knows_speed)


def _recorded(path) -> dict[str, str]:
    values = {}
    for line in path.read_text(errors="replace").splitlines():
        parts = line.split("|", 2)
        if len(parts) == 3:   # a multi-line text value continues on lines of its own
            values[parts[0]] = parts[2]
    return values


def test_a_recording_with_many_ports_lists_them_all(snmpsim):
    sizes = {}
    for rec in VENDOR_RECORDINGS:
        check = check_for(snmpsim, rec, interfaces=EVERY_INTERFACE)
        samples = asyncio.run(one_cycle(check, MemoryStore(), 1_700_000_000))
        sizes[rec] = len(interfaces(samples))
    assert max(sizes.values()) >= 24, sizes


def test_32bit_wrap_gives_the_small_true_rate(snmpsim):
    _, second = steps(snmpsim, "wrap_32bit", 2)
    up = interfaces(second)["Gi0/1"]
    assert up.fields["in_bps"] == pytest.approx(1_000_000)      # 7.5 MB in 60 s
    assert up.fields["out_bps"] == pytest.approx(100_000)
    assert device(second).fields["counter_reset"] == 0


def test_reboot_gives_no_rate_and_counter_reset(snmpsim):
    _, rebooted, after = steps(snmpsim, "reboot", 3)
    assert device(rebooted).fields["counter_reset"] == 1
    assert all("in_bps" not in s.fields for s in interfaces(rebooted).values())
    # The next minute is measured again from the new baseline.
    assert device(after).fields["counter_reset"] == 0
    assert interfaces(after)["Gi0/1"].fields["in_bps"] == pytest.approx(100_000)


def test_a_jump_past_the_interface_speed_gives_no_rate(snmpsim):
    _, jumped, after = steps(snmpsim, "over_speed", 3)
    assert "in_bps" not in interfaces(jumped)["Gi0/1"].fields
    assert device(jumped).fields["counter_reset"] == 1
    assert interfaces(after)["Gi0/1"].fields["in_bps"] == pytest.approx(100_000)


def test_counter_discontinuity_gives_no_rate(snmpsim):
    _, reset = steps(snmpsim, "discontinuity", 2)
    assert "in_bps" not in interfaces(reset)["Gi0/1"].fields
    assert device(reset).fields["counter_reset"] == 1


@pytest.mark.parametrize("scenario,n", [("wrap_32bit", 2), ("reboot", 3), ("over_speed", 3),
                                        ("discontinuity", 2)])
def test_no_negative_or_above_speed_value_is_ever_written(snmpsim, scenario, n):
    for cycle in steps(snmpsim, scenario, n):
        for s in interfaces(cycle).values():
            for f in ("in_bps", "out_bps"):
                if f in s.fields:
                    assert 0 <= s.fields[f] <= s.fields["speed_bps"]
            for f in ("in_util_pct", "out_util_pct"):
                if f in s.fields:
                    assert 0 <= s.fields[f] <= 100


def test_v1_polls_32bit_counters(snmpsim):
    _, second = steps(snmpsim, "wrap_32bit", 2, version="1")
    assert interfaces(second)["Gi0/1"].fields["in_bps"] == pytest.approx(1_000_000)
