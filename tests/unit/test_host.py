"""The host probe against the machine the tests run on."""

from __future__ import annotations

import asyncio
import contextlib
import resource
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest

from linkwatch.collector.host.check import HostCheck
from linkwatch.collector.host.probe import _NicReading, _rates, open_probes
from linkwatch.collector.sample import ProbeContext, Sample


class _MemoryStore:
    def __init__(self) -> None:
        self._values: dict[str, bytes] = {}

    def get_state(self, key: str) -> bytes | None:
        return self._values.get(key)

    def put_state(self, key: str, value: bytes) -> None:
        self._values[key] = value


def _next_cpu_tick() -> None:
    """Wait until the kernel's CPU time has advanced, as it has between real cycles."""
    start = sum(psutil.cpu_times())
    while sum(psutil.cpu_times()) == start:
        time.sleep(0.001)


def _cycles(*checks: HostCheck, between: Callable[[], None] = _next_cpu_tick) -> list[list[Sample]]:
    """Open the checks, run two cycles of each, with `between` run in between.

    Returns the samples per cycle: [first of each check in order, second of each ...].
    """

    async def run() -> list[list[Sample]]:
        async with contextlib.AsyncExitStack() as stack:
            ctx = ProbeContext(store=_MemoryStore(), exit_stack=stack)
            probes = await open_probes(checks, ctx)
            cycles = [await probes[c.name]() for c in checks]
            between()
            cycles += [await probes[c.name]() for c in checks]
            return cycles

    return asyncio.run(run())


def _by_nic(samples: list[Sample]) -> dict[str, Sample]:
    return {s.tags["nic"]: s for s in samples if s.measurement == "host_net"}


def _host(samples: list[Sample]) -> Sample:
    (host,) = [s for s in samples if s.measurement == "host"]
    return host


def test_first_cycle_reports_the_machine_in_sane_ranges() -> None:
    first, _ = _cycles(HostCheck())

    host = _host(first)
    assert host.tags == {}
    assert set(host.fields) == {"cpu_pct", "mem_used_pct", "disk_used_pct", "load1", "uptime_s"}
    for name in ("cpu_pct", "mem_used_pct", "disk_used_pct"):
        assert 0.0 <= host.fields[name] <= 100.0, name
    assert host.fields["load1"] >= 0.0
    boot_uptime = float(Path("/proc/uptime").read_text().split()[0])
    assert 0 < host.fields["uptime_s"] <= boot_uptime + 5
    assert host.fields["disk_used_pct"] == pytest.approx(psutil.disk_usage("/").percent, abs=1)
    assert abs(host.time_ns - time.time_ns()) < 60 * 10**9


def _nics_in_proc() -> set[str]:
    lines = Path("/proc/net/dev").read_text().splitlines()[2:]
    return {line.split(":", 1)[0].strip() for line in lines}


def test_default_nics_are_every_nic_but_loopback_without_rates_on_first_cycle() -> None:
    # Other tests on this machine may add or remove interfaces meanwhile: compare with what
    # existed both before and after (must be there) and at either time (may be there).
    before = _nics_in_proc()
    first, _ = _cycles(HostCheck())
    after = _nics_in_proc()

    nics = _by_nic(first)
    assert (before & after) - {"lo"} <= set(nics) <= (before | after) - {"lo"}
    for sample in nics.values():
        assert set(sample.fields) == {"rx_bytes", "tx_bytes"}
        assert isinstance(sample.fields["rx_bytes"], int)
        assert isinstance(sample.fields["tx_bytes"], int)
        assert sample.fields["rx_bytes"] >= 0
        assert sample.fields["tx_bytes"] >= 0


def test_second_cycle_gives_rates() -> None:
    first, second = _cycles(HostCheck(nics=tuple(_nics_in_proc())))

    in_both = set(_by_nic(first)) & set(_by_nic(second))
    assert in_both
    for nic in in_both:
        fields = _by_nic(second)[nic].fields
        assert fields["rx_bps"] >= 0, nic
        assert fields["tx_bps"] >= 0, nic


def _send_over_loopback(nbytes: int) -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        received = 0

        def drain() -> None:
            nonlocal received
            conn, _ = server.accept()
            with conn:
                while chunk := conn.recv(65536):
                    received += len(chunk)

        reader = threading.Thread(target=drain)
        reader.start()
        with socket.create_connection(("127.0.0.1", port)) as client:
            client.sendall(b"x" * nbytes)
        reader.join()
        assert received == nbytes


def test_traffic_over_loopback_shows_in_its_receive_rate() -> None:
    nbytes = 4 * 2**20
    window: list[float] = []

    def send() -> None:
        started = time.monotonic()
        _send_over_loopback(nbytes)
        window.append(started)

    first, second = _cycles(HostCheck(nics=("lo",)), between=send)
    # Measured after the second cycle returned, so it covers the probe's own window.
    window_s = time.monotonic() - window[0]

    before, after = _by_nic(first)["lo"].fields, _by_nic(second)["lo"].fields
    assert set(after) == {"rx_bytes", "tx_bytes", "rx_bps", "tx_bps"}
    assert after["rx_bytes"] - before["rx_bytes"] >= nbytes
    # The payload crossed lo inside the probe's window, which is shorter than window_s,
    # so the probe's rate can only be higher than the payload spread over window_s.
    assert after["rx_bps"] >= nbytes * 8 / window_s
    assert after["tx_bps"] >= nbytes * 8 / window_s


def _burn_cpu() -> None:
    # A known amount of this process's CPU time: a condition, not a duration.
    start = resource.getrusage(resource.RUSAGE_SELF).ru_utime
    while resource.getrusage(resource.RUSAGE_SELF).ru_utime - start < 0.3:
        sum(range(10_000))


def test_cpu_work_between_cycles_shows_in_cpu_pct() -> None:
    _, second = _cycles(HostCheck(nics=("lo",)), between=_burn_cpu)

    assert 0.0 < _host(second).fields["cpu_pct"] <= 100.0


def test_disk_used_pct_follows_disk_path(tmp_path: Path) -> None:
    first, _ = _cycles(HostCheck(disk_path=str(tmp_path), nics=("lo",)))

    assert _host(first).fields["disk_used_pct"] == pytest.approx(
        psutil.disk_usage(str(tmp_path)).percent, abs=1
    )


def test_missing_disk_path_leaves_only_that_field_out(tmp_path: Path) -> None:
    first, _ = _cycles(HostCheck(disk_path=str(tmp_path / "not-mounted"), nics=("lo",)))

    assert set(_host(first).fields) == {"cpu_pct", "mem_used_pct", "load1", "uptime_s"}


def test_a_configured_nic_that_does_not_exist_gives_no_sample() -> None:
    first, _ = _cycles(HostCheck(nics=("lo", "nonexistent0")))

    assert set(_by_nic(first)) == {"lo"}


def test_each_check_keeps_its_own_cpu_window() -> None:
    _, _, a_second, b_second = _cycles(
        HostCheck(name="a", nics=("lo",)), HostCheck(name="b", nics=("lo",)), between=_burn_cpu
    )

    # Both windows hold the work. Had the checks shared one baseline (as
    # psutil.cpu_percent(interval=None) does), b's window would start at a's second cycle,
    # microseconds earlier, and show no work.
    assert _host(a_second).fields["cpu_pct"] > 0.0
    assert _host(b_second).fields["cpu_pct"] > 0.0


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [
        ((1000, 2000), (2000, 2000), {"rx_bps": 8000.0, "tx_bps": 0.0}),
        ((1000, 2000), (10, 3000), {"tx_bps": 8000.0}),  # rx counter reset
        ((1000, 2000), (2000, 5), {"rx_bps": 8000.0}),  # tx counter reset
        ((1000, 2000), (0, 0), {}),  # NIC re-created
    ],
)
def test_a_counter_that_went_down_gives_no_rate(
    before: tuple[int, int], after: tuple[int, int], expected: dict[str, float]
) -> None:
    one_second = 10**9
    previous = _NicReading(*before, monotonic_ns=5 * one_second)
    current = _NicReading(*after, monotonic_ns=6 * one_second)

    assert _rates(previous, current) == expected


def test_no_rate_without_a_previous_reading() -> None:
    assert _rates(None, _NicReading(1, 2, monotonic_ns=1)) == {}
