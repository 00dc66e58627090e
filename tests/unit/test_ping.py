"""The ping probe against this host's loopback, and its arithmetic on made-up round trips."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import socket
import threading

import pytest

from linkwatch.collector.ping import transport as transport_module
from linkwatch.collector.ping.check import PingCheck
from linkwatch.collector.ping.packet import EchoTemplate, checksum, parse_echo_reply
from linkwatch.collector.ping.probe import open_probes
from linkwatch.collector.ping.schedule import EchoSchedule
from linkwatch.collector.ping.sockets import PingPermissionError
from linkwatch.collector.ping.stats import jitter, mdev, ping_fields
from linkwatch.collector.sample import ProbeContext, Sample
from linkwatch.collector.units import Seconds

RTT_FIELDS = {"rtt_min_ms", "rtt_avg_ms", "rtt_max_ms", "rtt_mdev_ms", "jitter_ms"}


class _NoState:
    def get_state(self, key: str) -> bytes | None:
        return None

    def put_state(self, key: str, value: bytes) -> None:
        pass


def _can_open_icmp() -> bool:
    for kind in (socket.SOCK_DGRAM, socket.SOCK_RAW):
        try:
            socket.socket(socket.AF_INET, kind, socket.IPPROTO_ICMP).close()
            return True
        except PermissionError:
            continue
    return False


needs_icmp = pytest.mark.skipif(
    not _can_open_icmp(),
    reason="this process may open no ICMP socket (see collector/ping/README.md)",
)


def _check(name: str, address: str, **kwargs) -> PingCheck:
    # short interval: 5 echoes 0.16 s apart, so a test cycle takes under a second
    kwargs.setdefault("interval", Seconds(1))
    return PingCheck(name=name, address=address, **kwargs)


async def _cycles(checks: list[PingCheck], rounds: int = 1) -> list[list[Sample]]:
    """Open the probes and run `rounds` cycles of every check; the samples of each round."""
    async with contextlib.AsyncExitStack() as stack:
        ctx = ProbeContext(store=_NoState(), exit_stack=stack)
        probes = await open_probes(checks, ctx)
        out = []
        for _ in range(rounds):
            batches = await asyncio.gather(*(probes[c.name]() for c in checks))
            out.append([sample for batch in batches for sample in batch])
        return out


# --- arithmetic -------------------------------------------------------------------------


def test_mdev_is_the_population_standard_deviation_like_ping():
    assert mdev([10.0, 20.0, 30.0, 40.0]) == pytest.approx(math.sqrt(125.0))
    assert mdev([5.0]) == 0.0


def test_jitter_is_the_mean_absolute_difference_of_consecutive_rtts():
    assert jitter([10.0, 20.0, 15.0, 15.0]) == pytest.approx((10 + 5 + 0) / 3)
    assert jitter([10.0]) is None
    assert jitter([]) is None


def test_fields_of_a_cycle_with_some_loss():
    fields = ping_fields(sent=5, rtts_ms=[10.0, 12.0, 11.0])
    assert fields == {
        "sent": 5,
        "received": 3,
        "up": 1,
        "loss_pct": 40.0,
        "rtt_min_ms": 10.0,
        "rtt_avg_ms": 11.0,
        "rtt_max_ms": 12.0,
        "rtt_mdev_ms": round(math.sqrt(2 / 3), 3),
        "jitter_ms": 1.5,
    }
    assert isinstance(fields["sent"], int) and isinstance(fields["loss_pct"], float)


def test_a_single_reply_has_rtts_but_no_jitter():
    fields = ping_fields(sent=5, rtts_ms=[7.0])
    assert fields["rtt_avg_ms"] == 7.0 and fields["rtt_mdev_ms"] == 0.0
    assert "jitter_ms" not in fields


def test_no_reply_means_down_with_full_loss_and_no_rtt_fields():
    fields = ping_fields(sent=5, rtts_ms=[])
    assert fields == {"sent": 5, "received": 0, "up": 0, "loss_pct": 100.0}


def test_nothing_sent_has_no_loss_figure():
    assert ping_fields(sent=0, rtts_ms=[]) == {"sent": 0, "received": 0, "up": 0}


# --- schedule and packets ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("interval", "timeout", "count", "spacing", "wait"),
    [
        (60, None, 5, 9.6, 5.0),  # the default check: echoes over 48 s, ends by 43.4 s
        (60, 10, 5, 1.6, 1.6),  # a tighter timeout packs the echoes closer
        (1, None, 5, 0.16, 0.16),  # a short test interval
        (300, None, 1, 240.0, 5.0),
    ],
)
def test_the_cycle_ends_within_the_checks_timeout(interval, timeout, count, spacing, wait):
    check = PingCheck(
        "t",
        "127.0.0.1",
        interval=Seconds(interval),
        count=count,
        timeout=None if timeout is None else Seconds(timeout),
    )
    schedule = EchoSchedule.for_check(check)
    assert schedule.spacing_s == pytest.approx(spacing)
    assert schedule.wait_s == pytest.approx(wait)
    assert schedule.duration_s < (timeout or interval)


def test_a_count_of_zero_is_refused_with_the_check_name():
    with pytest.raises(ValueError, match=r"'wan'.*count"):
        EchoSchedule.for_check(PingCheck("wan", "127.0.0.1", count=0))


@pytest.mark.parametrize("identifier, sequence", [(0, 0), (0xFFFF, 0xFFFF), (0x1234, 7)])
def test_echo_requests_carry_a_valid_checksum(identifier, sequence):
    packet = EchoTemplate(request_type=8, token=b"abcdefgh", fill_checksum=True).build(
        identifier, sequence
    )
    assert checksum(packet) == 0  # a correct checksum sums the message to zero
    reply = bytes([0]) + packet[1:]  # the same message as an echo reply
    parsed = parse_echo_reply(reply, reply_type=0, ip_header=False)
    assert (parsed.identifier, parsed.sequence, parsed.token) == (identifier, sequence, b"abcdefgh")


def test_replies_of_another_type_are_ignored():
    request = EchoTemplate(request_type=8, token=bytes(8), fill_checksum=True).build(1, 1)
    assert parse_echo_reply(request, reply_type=0, ip_header=False) is None
    assert parse_echo_reply(b"\x00\x00", reply_type=0, ip_header=False) is None


# --- real echoes on loopback ------------------------------------------------------------


@needs_icmp
@pytest.mark.parametrize("address", ["127.0.0.1", "::1", "localhost"])
def test_loopback_answers_with_sane_round_trips(address):
    [[sample]] = asyncio.run(_cycles([_check("loopback", address)]))
    assert sample.measurement == "ping"
    assert sample.tags["target"] == "loopback"
    expected = {"localhost": "127.0.0.1"}.get(address, address)  # /etc/hosts, no DNS
    assert sample.tags["address"] == expected
    fields = sample.fields
    assert (fields["up"], fields["sent"], fields["received"], fields["loss_pct"]) == (1, 5, 5, 0.0)
    assert 0 < fields["rtt_min_ms"] <= fields["rtt_avg_ms"] <= fields["rtt_max_ms"] < 160
    assert 0 <= fields["rtt_mdev_ms"] <= fields["rtt_max_ms"] - fields["rtt_min_ms"]
    assert 0 <= fields["jitter_ms"] <= fields["rtt_max_ms"] - fields["rtt_min_ms"]


@needs_icmp
def test_the_sample_time_is_taken_once_at_the_cycle_start():
    async def run() -> Sample:
        async with contextlib.AsyncExitStack() as stack:
            ctx = ProbeContext(store=_NoState(), exit_stack=stack, time_ns=lambda: 1_000)
            probes = await open_probes([_check("lo", "127.0.0.1")], ctx)
            [sample] = await probes["lo"]()
            return sample

    assert asyncio.run(run()).time_ns == 1_000


@needs_icmp
def test_two_hundred_targets_complete_one_cycle_in_one_process():
    checks = [_check(f"t{i}", f"127.0.{i // 250}.{i % 250 + 1}") for i in range(200)]
    [samples] = asyncio.run(_cycles(checks))
    assert sorted(s.tags["target"] for s in samples) == sorted(c.name for c in checks)
    for sample, check in zip(samples, checks, strict=True):
        assert sample.tags["address"] == check.address
        assert (sample.fields["up"], sample.fields["received"]) == (1, 5), sample


@needs_icmp
def test_a_cycle_cut_short_by_the_scheduler_leaves_the_probe_working():
    async def run() -> Sample:
        async with contextlib.AsyncExitStack() as stack:
            ctx = ProbeContext(store=_NoState(), exit_stack=stack)
            probes = await open_probes([_check("lo", "127.0.0.1")], ctx)
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(probes["lo"](), timeout=0.05)  # mid-cycle
            [sample] = await probes["lo"]()
            return sample

    assert asyncio.run(run()).fields["received"] == 5


@needs_icmp
def test_echoes_wait_their_turn_when_the_send_buffer_is_full(monkeypatch):
    real_open = transport_module.open_icmp_socket
    refusals = {"left": 40}

    class FullAtFirst(socket.socket):
        # the kernel's answer when hundreds of echoes leave at once and the buffer is full
        def sendto(self, *args):
            if refusals["left"]:
                refusals["left"] -= 1
                raise BlockingIOError(11, "Resource temporarily unavailable")
            return super().sendto(*args)

    def open_full(family, mode):
        sock = real_open(family, mode)
        return FullAtFirst(sock.family, sock.type, sock.proto, fileno=sock.detach())

    monkeypatch.setattr(transport_module, "open_icmp_socket", open_full)
    checks = [_check(f"t{i}", f"127.0.1.{i + 1}") for i in range(20)]
    [samples] = asyncio.run(_cycles(checks))
    assert refusals["left"] == 0
    assert [s.fields["received"] for s in samples] == [5] * 20


def test_a_failed_lookup_is_a_down_sample_without_loss_or_rtt(monkeypatch, caplog):
    def no_such_name(host, *args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    # the resolver is faked: a name lookup never leaves this test
    monkeypatch.setattr(socket, "getaddrinfo", no_such_name)
    monkeypatch.setattr(transport_module, "open_icmp_socket", _unused_socket)
    caplog.set_level(logging.INFO, logger="linkwatch.ping")
    rounds = asyncio.run(_cycles([_check("gone", "gone.example.invalid")], rounds=3))
    for [sample] in rounds:
        assert sample.tags == {"target": "gone", "address": "gone.example.invalid"}
        assert sample.fields == {"sent": 0, "received": 0, "up": 0}
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1  # one line per state change, not one per cycle
    assert "cannot resolve 'gone.example.invalid'" in warnings[0].getMessage()
    assert "Name or service not known" in warnings[0].getMessage()


@needs_icmp
def test_echoes_held_for_a_trace_leave_one_cycle_unmeasured_never_two_in_a_row():
    from linkwatch.collector.ping.hold import EchoHold
    from linkwatch.collector.ping.probe import PingProbe
    from linkwatch.collector.ping.transport import TransportPool

    check = _check("lo", "127.0.0.1", count=1)    # 1 s, one echo: no time to wait in

    async def run() -> list[list[Sample]]:
        pool = TransportPool()
        pool.prepare(socket.AF_INET, check.privileged)
        try:
            hold = EchoHold()
            probe = PingProbe(check, pool, ProbeContext(store=_NoState(), exit_stack=None),
                              hold)
            with hold.holding("127.0.0.1"):           # a trace toward the target runs
                cycles = [await probe.collect() for _ in range(3)]
            return [*cycles, await probe.collect()]
        finally:
            pool.close()

    held, measured, held_again, after = asyncio.run(run())
    assert held == [] and held_again == []            # no sample: unknown, not lost
    assert measured[0].fields["sent"] == 1 and measured[0].fields["up"] == 1
    assert after[0].fields["received"] == 1


def test_a_dead_dns_server_costs_the_cycle_its_reason_not_its_sample(monkeypatch, caplog):
    never = threading.Event()

    def dead_server(host, *args, **kwargs):
        never.wait(60)         # as glibc waits on a DNS server that never answers
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    # the resolver is faked: a name lookup never leaves this test
    monkeypatch.setattr(socket, "getaddrinfo", dead_server)
    monkeypatch.setattr(transport_module, "open_icmp_socket", _unused_socket)
    caplog.set_level(logging.INFO, logger="linkwatch.ping")
    check = _check("far", "router.ngoc-vung.example", interval=Seconds(2), count=1)

    async def cycle() -> list[Sample]:
        async with contextlib.AsyncExitStack() as stack:
            ctx = ProbeContext(store=_NoState(), exit_stack=stack)
            probes = await open_probes([check], ctx)
            # the scheduler's own limit: a cycle still running then would leave no sample
            return await asyncio.wait_for(probes["far"](), timeout=2.0)

    try:
        [sample] = asyncio.run(cycle())
    finally:
        never.set()
    assert sample.fields == {"sent": 0, "received": 0, "up": 0}
    [warning] = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert "cannot resolve 'router.ngoc-vung.example'" in warning
    assert "no answer from the name resolver" in warning


def _unused_socket(family, mode):
    return socket.socket(family, socket.SOCK_DGRAM)  # an ordinary UDP socket: never sent on


def test_no_icmp_socket_at_all_is_an_error_that_names_the_fix(monkeypatch):
    def refuse(family, mode):
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(transport_module, "open_icmp_socket", refuse)
    with pytest.raises(PingPermissionError) as caught:
        asyncio.run(_cycles([_check("lo", "127.0.0.1")]))
    message = str(caught.value)
    assert "sysctl net.ipv4.ping_group_range='0 2147483647'" in message
    assert "CAP_NET_RAW" in message and "docs/operations.md#ping" in message
