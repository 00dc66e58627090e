"""Host probe: one `host` sample and one `host_net` sample per NIC each cycle.

Every psutil call used here reads a small /proc file and returns in microseconds, so the
probe runs inline on the event loop instead of in a thread.

Rates (cpu_pct, rx_bps, tx_bps) are deltas against the previous cycle of the same check. The
probe keeps its own CPU-time baseline rather than calling `psutil.cpu_percent(interval=None)`,
whose baseline is shared by every caller in the thread: two host checks (or a library) would
otherwise steal each other's interval.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import psutil

from linkwatch.collector.host.check import HostCheck
from linkwatch.collector.sample import Collect, FieldValue, ProbeContext, Sample

# The shortest window cpu_pct is computed over. CPU time is counted in 10 ms ticks, so a
# window of a few ms (the first cycle right after open) reads as 0 % or 100 %.
_MIN_CPU_WINDOW_S = 1.0


async def open_probes(checks: Sequence[HostCheck], ctx: ProbeContext) -> dict[str, Collect]:
    """One collect function per host check, keyed by check name.

    The CPU baseline is taken here, so the first cycle already reports the CPU use since
    the check was opened instead of a meaningless 0 (psutil's answer without a baseline).
    """
    probes: dict[str, Collect] = {}
    for check in checks:
        probe = HostProbe(check=check, time_ns=ctx.time_ns)
        probes[check.name] = probe.collect
    return probes


@dataclass(frozen=True, slots=True)
class _NicReading:
    rx_bytes: int
    tx_bytes: int
    monotonic_ns: int


@dataclass
class HostProbe:
    """The state one host check carries from one cycle to the next."""

    check: HostCheck
    time_ns: Callable[[], int] = time.time_ns
    monotonic_ns: Callable[[], int] = time.monotonic_ns
    _cpu_times: Any = field(init=False)
    _cpu_since_ns: int = field(init=False)
    _first_cycle: bool = field(init=False, default=True)
    _nics: dict[str, _NicReading] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self._cpu_times = psutil.cpu_times()
        self._cpu_since_ns = self.monotonic_ns()

    async def collect(self) -> list[Sample]:
        if self._first_cycle:
            # The scheduler runs the first cycle right after open; wait (without blocking
            # the loop) until the CPU window is long enough to mean something.
            self._first_cycle = False
            waited_s = (self.monotonic_ns() - self._cpu_since_ns) / 1e9
            if waited_s < _MIN_CPU_WINDOW_S:
                await asyncio.sleep(_MIN_CPU_WINDOW_S - waited_s)
        now_ns = self.time_ns()
        samples = [Sample("host", {}, self._host_fields(), now_ns)]
        samples.extend(
            Sample("host_net", {"nic": nic}, fields, now_ns)
            for nic, fields in self._nic_fields().items()
        )
        return samples

    def _host_fields(self) -> dict[str, FieldValue]:
        fields: dict[str, FieldValue] = {}
        cpu_pct = self._cpu_pct()
        if cpu_pct is not None:
            fields["cpu_pct"] = cpu_pct
        fields["mem_used_pct"] = _mem_used_pct()
        disk_pct = _disk_used_pct(self.check.disk_path)
        if disk_pct is not None:
            fields["disk_used_pct"] = disk_pct
        fields["load1"] = os.getloadavg()[0]
        # CLOCK_BOOTTIME counts from boot including suspend and is immune to wall-clock
        # steps, unlike `time.time() - psutil.boot_time()`.
        fields["uptime_s"] = round(time.clock_gettime(time.CLOCK_BOOTTIME), 3)
        return fields

    def _cpu_pct(self) -> float | None:
        """Busy share of all CPUs since the previous call, as psutil.cpu_percent computes it."""
        before, after = self._cpu_times, psutil.cpu_times()
        self._cpu_times = after
        # A counter that went down (seen on some kernels) counts as no time passing.
        delta = type(after)(*(max(0.0, b - a) for a, b in zip(before, after, strict=True)))
        total = _cpu_total(delta)
        if total <= 0:
            return None  # two cycles within one clock tick: nothing to measure
        busy = total - delta.idle - getattr(delta, "iowait", 0.0)
        return round(100.0 * busy / total, 1)

    def _nic_fields(self) -> dict[str, dict[str, FieldValue]]:
        # nowrap=False: the kernel's own counters. psutil's default folds any decrease into
        # a running total, which would hide a reset and make `rx_bytes` not the raw counter.
        counters = psutil.net_io_counters(pernic=True, nowrap=False)
        now = self.monotonic_ns()
        wanted = self.check.nics or tuple(nic for nic in counters if nic != "lo")
        result: dict[str, dict[str, FieldValue]] = {}
        readings: dict[str, _NicReading] = {}
        for nic in wanted:
            io = counters.get(nic)
            if io is None:
                continue  # NIC absent this cycle (unplugged, renamed): no sample, no rate
            reading = _NicReading(io.bytes_recv, io.bytes_sent, now)
            readings[nic] = reading
            fields: dict[str, FieldValue] = {
                "rx_bytes": reading.rx_bytes,
                "tx_bytes": reading.tx_bytes,
            }
            fields.update(_rates(self._nics.get(nic), reading))
            result[nic] = fields
        self._nics = readings
        return result


def _cpu_total(times: Any) -> float:
    # On Linux guest time is already inside user/nice; psutil and htop subtract it too.
    return sum(times) - getattr(times, "guest", 0.0) - getattr(times, "guest_nice", 0.0)


def _mem_used_pct() -> float:
    # psutil's `percent` is (total - available) / total: page cache that the kernel can
    # reclaim does not count as used, which is what an operator means by "memory used".
    return float(psutil.virtual_memory().percent)


def _disk_used_pct(path: str) -> float | None:
    try:
        usage = psutil.disk_usage(path)
    except OSError:
        return None  # path missing or unreadable: the field is absent this cycle
    return float(usage.percent)


def _rates(previous: _NicReading | None, current: _NicReading) -> dict[str, FieldValue]:
    """rx_bps/tx_bps from two readings; a direction without a valid delta is left out."""
    if previous is None:
        return {}
    elapsed_s = (current.monotonic_ns - previous.monotonic_ns) / 1e9
    if elapsed_s <= 0:
        return {}
    rates: dict[str, FieldValue] = {}
    for name, before, after in (
        ("rx_bps", previous.rx_bytes, current.rx_bytes),
        ("tx_bps", previous.tx_bytes, current.tx_bytes),
    ):
        # Linux NIC counters are 64-bit and do not wrap in practice: a counter that went
        # down means the NIC was re-created or its driver reset, and the delta says nothing
        # about traffic, so the rate is left out rather than guessed.
        if after >= before:
            rates[name] = (after - before) * 8 / elapsed_s
    return rates
