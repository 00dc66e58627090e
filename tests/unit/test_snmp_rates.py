"""Rates from counters: hand-made counter sequences on a fake clock."""

import pytest

from linkwatch.collector.snmp.rates import (
    BitRates,
    Clock,
    Interval,
    OctetReading,
    Verdict,
    bit_rates,
    interval,
    rate,
)

GAP = 300.0          # readings further apart give no rate
MBIT = 1_000_000.0


def octets(i: int, o: int, bits: int = 64, disc: int | None = None) -> OctetReading:
    return OctetReading(i, o, bits, disc)


def run(sequence, speed_bps=100 * MBIT) -> list[BitRates]:
    """Feed (wall_s, uptime_ticks, reading) steps through the rules, as a poller would."""
    out = []
    prev = None
    for wall, ticks, reading in sequence:
        cur = (Clock(wall, ticks), reading)
        if prev is not None:
            span = interval(prev[0], cur[0], max_gap_s=GAP)
            out.append(bit_rates(prev[1], cur[1], span, speed_bps))
        prev = cur
    return out


def test_steady_traffic_gives_its_rate_from_the_device_clock():
    # The poller's clock says 61 s (a late answer); the device's uptime says 60 s.
    [r] = run([(0, 1000, octets(0, 0)), (61, 7000, octets(7_500_000, 750_000))])
    assert r.verdict is Verdict.OK
    assert r.in_bps == pytest.approx(1 * MBIT)
    assert r.out_bps == pytest.approx(0.1 * MBIT)


def test_wall_clock_is_used_when_the_device_has_no_uptime():
    [r] = run([(0, None, octets(0, 0)), (10, None, octets(1_250_000, 0))])
    assert r.in_bps == pytest.approx(1 * MBIT)


def test_32bit_wrap_gives_the_small_true_rate():
    start = 2**32 - 1_000_000
    [r] = run([(0, 0, octets(start, 5, bits=32)), (60, 6000, octets(500_000, 5, bits=32))])
    assert r.verdict is Verdict.OK
    assert r.in_bps == pytest.approx(1_500_000 * 8 / 60)
    assert r.out_bps == 0


def test_64bit_counter_going_down_is_a_reset_not_a_wrap():
    [r] = run([(0, 0, octets(10**12, 0)), (60, 6000, octets(5, 0))])
    assert r.verdict is Verdict.RESET
    assert r.in_bps is None and r.out_bps is None


def test_reboot_gives_no_rate_and_a_reset():
    [r] = run([(0, 900_000, octets(10_000, 10_000)), (60, 3_000, octets(20_000, 20_000))])
    assert r.verdict is Verdict.RESET
    assert r.in_bps is None


def test_uptime_wrap_after_497_days_is_not_a_reboot():
    before = 2**32 - 3_000   # 30 s before sysUpTime wraps
    [r] = run([(0, before, octets(0, 0)), (60, 3_000, octets(750_000, 0))])
    assert r.verdict is Verdict.OK
    assert r.in_bps == pytest.approx(100_000)


def test_discontinuity_time_change_gives_a_reset():
    [r] = run([(0, 0, octets(0, 0, disc=100)), (60, 6000, octets(1000, 1000, disc=5500))])
    assert r.verdict is Verdict.RESET


def test_rate_above_the_interface_speed_is_discarded():
    # 10 Mbit/s port; a jump of 1 GB in 60 s would be 133 Mbit/s.
    [r] = run([(0, 0, octets(0, 0)), (60, 6000, octets(10**9, 0))], speed_bps=10 * MBIT)
    assert r.verdict is Verdict.RESET
    assert r.in_bps is None


def test_a_32bit_reset_that_looks_like_a_wrap_is_caught_by_the_speed():
    # Counter went from 100 MB to 10: as one wrap that is ~4.2 GB in 60 s on a 10 Mbit/s port.
    [r] = run([(0, 0, octets(100_000_000, 0, bits=32)), (60, 6000, octets(10, 0, bits=32))],
              speed_bps=10 * MBIT)
    assert r.verdict is Verdict.RESET


def test_missed_cycles_average_over_the_whole_gap():
    # Polls at 0 and 180 s (two cycles missed): the rate covers all 180 s.
    [r] = run([(0, 0, octets(0, 0)), (180, 18000, octets(2_250_000, 0))])
    assert r.verdict is Verdict.OK
    assert r.in_bps == pytest.approx(100_000)


def test_readings_too_far_apart_give_no_rate_and_no_reset():
    [r] = run([(0, 0, octets(0, 0)), (GAP + 60, (GAP + 60) * 100, octets(1000, 0))])
    assert r.verdict is Verdict.SKIP


def test_counter_width_change_gives_no_rate():
    [r] = run([(0, 0, octets(5, 5, bits=32)), (60, 6000, octets(10, 10, bits=64))])
    assert r.verdict is Verdict.SKIP


def test_64bit_counters_near_their_top_still_give_exact_rates():
    big = 2**63
    [r] = run([(0, 0, octets(big, big)), (60, 6000, octets(big + 7_500_000_000, big))],
              speed_bps=10_000 * MBIT)
    assert r.in_bps == pytest.approx(1000 * MBIT)


def test_a_sequence_never_yields_negative_or_above_speed_rates():
    speed = 10 * MBIT
    seq = [(0, 0, octets(0, 0, 32)), (60, 6000, octets(3_000_000, 1, 32)),
           (120, 12000, octets(100, 2, 32)),            # reset disguised as a wrap
           (180, 100, octets(50, 3, 32)),               # reboot
           (240, 6100, octets(4_000_000, 4, 32)),
           (300, 12100, octets(2**32 - 1, 5, 32)),      # over speed
           (360, 18100, octets(1_000_000, 6, 32))]      # a true wrap
    results = run(seq, speed_bps=speed)
    verdicts = [r.verdict for r in results]
    assert verdicts == [Verdict.OK, Verdict.RESET, Verdict.RESET, Verdict.OK, Verdict.RESET,
                        Verdict.OK]
    for r in results:
        for v in (r.in_bps, r.out_bps):
            assert v is None or 0 <= v <= speed


def test_plain_counter_rate_for_user_oids():
    assert rate(10, 70, bits=64, seconds=60).per_s == 1.0
    assert rate(70, 10, bits=64, seconds=60).verdict is Verdict.RESET
    assert rate(2**32 - 30, 30, bits=32, seconds=60).per_s == 1.0


def test_zero_interval_gives_no_rate():
    assert interval(Clock(5, 100), Clock(5, 100), max_gap_s=GAP) == Interval(Verdict.SKIP)
