"""Rates from counters, as docs/design.md defines them. Pure: no I/O, no clock.

A rate is Δcounter ÷ Δt between two readings. Δt comes from the device's sysUpTime when
both readings have it (the device's clock, not the poller's, so a slow answer does not skew
the rate), else from the poller's wall clock. A delta is discarded — no rate, and the cycle
reports `counter_reset` = 1 — when:
- sysUpTime went back (the device or its agent restarted);
- ifCounterDiscontinuityTime changed;
- a counter went down, unless it is a 32-bit counter, which may wrap once per interval;
- the rate exceeds the interface speed (a wrap that was really a reset, or a bogus counter).
A delta is also skipped, without `counter_reset`, when the readings are too far apart
(`max_gap_s`) or not apart at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

TICKS_PER_S = 100
_WRAP_32 = 2**32


class Verdict(Enum):
    OK = "ok"
    RESET = "reset"         # a discontinuity: no rate, counter_reset = 1
    SKIP = "skip"           # nothing to compare (first reading, too old, Δt ≤ 0): no rate


@dataclass(frozen=True, slots=True)
class Clock:
    """When a set of counters was read: the poller's wall clock and the device's uptime."""

    wall_s: float
    uptime_ticks: int | None = None


@dataclass(frozen=True, slots=True)
class Interval:
    verdict: Verdict
    seconds: float = 0.0


def interval(prev: Clock, cur: Clock, *, max_gap_s: float) -> Interval:
    """Δt between two readings, or why there is none."""
    wall = cur.wall_s - prev.wall_s
    if prev.uptime_ticks is not None and cur.uptime_ticks is not None:
        ticks = cur.uptime_ticks - prev.uptime_ticks
        if ticks < 0:
            # sysUpTime is a 32-bit tick counter: it wraps after 497 days. Accept that one
            # wrap only when the wall clock agrees with it; otherwise the device restarted.
            wrapped = (ticks + _WRAP_32) / TICKS_PER_S
            if wall > 0 and abs(wrapped - wall) <= max(2.0, 0.1 * wall):
                ticks += _WRAP_32
            else:
                return Interval(Verdict.RESET)
        seconds = ticks / TICKS_PER_S
    else:
        seconds = wall
    if seconds <= 0 or wall > max_gap_s or seconds > max_gap_s:
        return Interval(Verdict.SKIP)
    return Interval(Verdict.OK, seconds)


@dataclass(frozen=True, slots=True)
class Delta:
    verdict: Verdict
    value: int = 0


def counter_delta(prev: int, cur: int, *, bits: int) -> Delta:
    """Increase of a counter; a 32-bit counter that went down is taken as one wrap."""
    if cur >= prev:
        return Delta(Verdict.OK, cur - prev)
    if bits == 32:
        return Delta(Verdict.OK, cur + _WRAP_32 - prev)
    return Delta(Verdict.RESET)


@dataclass(frozen=True, slots=True)
class Rate:
    verdict: Verdict
    per_s: float | None = None


def rate(prev: int, cur: int, *, bits: int, seconds: float, limit_per_s: float | None = None,
         ) -> Rate:
    """Counter increase per second; RESET when it went down or exceeds `limit_per_s`."""
    delta = counter_delta(prev, cur, bits=bits)
    if delta.verdict is not Verdict.OK:
        return Rate(delta.verdict)
    per_s = delta.value / seconds
    if limit_per_s and per_s > limit_per_s:
        return Rate(Verdict.RESET)
    return Rate(Verdict.OK, per_s)


@dataclass(frozen=True, slots=True)
class OctetReading:
    """One interface's octet counters at one time (a side is None when its value was
    unusable: that side gets no rate, the other still does)."""

    in_octets: int | None
    out_octets: int | None
    bits: int                          # 64 for ifHC*, 32 for ifIn/OutOctets
    discontinuity: int | None = None   # ifCounterDiscontinuityTime, when the device has it


@dataclass(frozen=True, slots=True)
class BitRates:
    verdict: Verdict
    in_bps: float | None = None
    out_bps: float | None = None


def bit_rates(prev: OctetReading, cur: OctetReading, span: Interval,
              speed_bps: float | None) -> BitRates:
    """in/out bit/s of one interface over `span`. A reset of either counter spoils both
    (the other is not to be trusted either); a side with no reading at either end just has
    no rate."""
    if span.verdict is not Verdict.OK:
        return BitRates(span.verdict)
    if prev.bits != cur.bits:
        return BitRates(Verdict.SKIP)   # the device switched counter width: no common base
    if prev.discontinuity != cur.discontinuity:
        return BitRates(Verdict.RESET)
    limit = speed_bps / 8 if speed_bps else None
    per_s: list[float | None] = []
    for before, after in ((prev.in_octets, cur.in_octets), (prev.out_octets, cur.out_octets)):
        if before is None or after is None:
            per_s.append(None)
            continue
        r = rate(before, after, bits=cur.bits, seconds=span.seconds, limit_per_s=limit)
        if r.verdict is not Verdict.OK or r.per_s is None:
            return BitRates(Verdict.RESET)
        per_s.append(r.per_s)
    rin, rout = per_s
    if rin is None and rout is None:
        return BitRates(Verdict.SKIP)
    return BitRates(Verdict.OK, None if rin is None else rin * 8,
                    None if rout is None else rout * 8)
