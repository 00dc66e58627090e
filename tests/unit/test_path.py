"""The path probe's pieces: reading a trace, when the agent traces, and when it cannot."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from linkwatch.collector.path.check import PathWatchSettings, TraceSettings
from linkwatch.collector.path.fields import describe_break, last_hop, path_fields
from linkwatch.collector.path.probe import PathWatch, Tracer, ping_state, watch_paths
from linkwatch.collector.path.traceroute import Hop, Reply, Trace
from linkwatch.collector.ping.check import PingCheck
from linkwatch.collector.sample import ProbeContext, Sample
from linkwatch.collector.units import Seconds

REPO = Path(__file__).resolve().parents[2]

# Documentation addresses (RFC 5737): these tests only format traces; nothing is sent.
R1, R2, TARGET = "198.51.100.1", "198.51.100.2", "203.0.113.2"


def _trace(*hops: tuple[Reply | None, ...], reached: bool = False) -> Trace:
    return Trace(TARGET, tuple(Hop(n, r) for n, r in enumerate(hops, 1)), reached)


BROKEN = _trace(
    (Reply(R1, 0.31), Reply(R1, 0.28), Reply(R1, 0.3)),
    (Reply(R2, 0.5, "!N"), None, None),
)
SILENT_TAIL = _trace(
    (Reply(R1, 0.31), None, Reply(R1, 0.3)),
    (None, None, None), (None, None, None), (None, None, None),
)
SILENT_BETWEEN = _trace((Reply(R1, 0.31),), (None,), (Reply(R2, 0.5, "!N"),))
NO_ROUTE = Trace(TARGET, (Hop(1, (None, None)), Hop(2, (None, None))), False,
                 unsent=f"this host has no route to {TARGET} (ENETUNREACH)")
REACHED = _trace(
    (Reply(R1, 0.31), Reply(R1, 0.28), Reply(R1, 0.3)),
    (Reply(R2, 0.4), Reply("198.51.100.6", 0.45), Reply(R2, 0.41)),
    (Reply(TARGET, 0.6), Reply(TARGET, 0.61), Reply(TARGET, 0.62)),
    reached=True,
)


# -- reading a trace ------------------------------------------------------------------------

@pytest.mark.parametrize(("trace", "hops", "summary"), [
    (BROKEN, "1 198.51.100.1 0.31ms 0.28ms 0.3ms; 2 198.51.100.2 0.5ms !N * *",
     "breaks after hop 2 (198.51.100.2)"),
    (SILENT_TAIL, "1 198.51.100.1 0.31ms * 0.3ms; 2-4 * * *",
     "breaks after hop 1 (198.51.100.1); hop 2 silent, may rate-limit ICMP"),
    (SILENT_BETWEEN, "1 198.51.100.1 0.31ms; 2 *; 3 198.51.100.2 0.5ms !N",
     "breaks after hop 3 (198.51.100.2); hop 2 silent, may rate-limit ICMP"),
    (NO_ROUTE, "1-2 * *", "no route to the target from this host: look at its routes and "
     "uplink"),
    (REACHED, "1 198.51.100.1 0.31ms 0.28ms 0.3ms; 2 198.51.100.2 0.4ms 198.51.100.6 0.45ms "
              "198.51.100.2 0.41ms; 3 203.0.113.2 0.6ms 0.61ms 0.62ms", "reached in 3 hops"),
    (_trace((None, None), (None, None)), "1-2 * *", "no hop answered"),
    (_trace(), "", "no hop answered"),
], ids=["unreachable", "silent-tail", "silent-between", "no-route", "reached", "all-silent",
        "no-probe-sent"])
def test_a_trace_reads_like_traceroute_and_names_where_it_ends(trace, hops, summary):
    fields = path_fields(trace, trigger="down")
    assert fields["hops"] == hops
    assert describe_break(fields) == summary
    assert fields["trigger"] == "down"
    assert fields["reached"] == int(trace.reached)


def test_nothing_answered_leaves_the_last_hop_fields_absent():
    fields = path_fields(_trace((None, None, None)))
    assert "last_hop" not in fields and "last_hop_address" not in fields


def test_a_router_answering_several_ttls_is_named_at_its_first_hop():
    # time-exceeded for TTL 2, then "unreachable" for TTL 3: one router, hop 2
    trace = _trace((Reply(R1, 0.3),), (Reply(R2, 0.4),), (Reply(R2, 0.5, "!H"),))
    assert last_hop(trace) == (2, R2)
    assert describe_break(path_fields(trace)) == "breaks after hop 2 (198.51.100.2)"


def test_describe_break_of_no_path_is_empty():
    assert describe_break({}) == ""
    assert describe_break({"reached": 1, "last_hop": 1}) == "reached in 1 hop"


def test_trace_settings_refuse_values_that_would_not_bound_a_trace():
    for bad in ({"max_hops": 0}, {"max_hops": 65}, {"probes": 0}, {"timeout_s": 0}):
        with pytest.raises(ValueError):
            TraceSettings(**bad)


# -- when the agent traces ----------------------------------------------------------------

def _ping(up: int, *, loss: float | None = None, sent: int = 5,
          address: str = TARGET) -> Sample:
    fields: dict = {"sent": sent, "received": 5 * up, "up": up}
    if sent:
        fields["loss_pct"] = loss if loss is not None else (0.0 if up else 100.0)
    return Sample("ping", {"target": "far", "address": address}, fields, 0)


class RecordingTracer:
    """Stands in for Tracer: records what would be traced, answers after `delay` s."""

    def __init__(self, delay: float = 0.0) -> None:
        self.settings = PathWatchSettings()
        self.delay = delay
        self.calls: list[tuple[str, str, str]] = []

    async def sample(self, target: str, address: str, trigger: str) -> Sample:
        self.calls.append((target, address, trigger))
        await asyncio.sleep(self.delay)
        return Sample("path", {"target": target, "address": address},
                      {"reached": int(trigger == "up"), "trigger": trigger}, 0)


def _cycles(samples: list[Sample], tracer, limit_s: float = 1.0) -> list[list[Sample]]:
    queue = list(samples)

    async def collect() -> list[Sample]:
        return [queue.pop(0)]

    async def run() -> list[list[Sample]]:
        watch = PathWatch(collect, name="far", limit_s=limit_s, tracer=tracer)
        return [await watch.collect() for _ in samples]

    return asyncio.run(run())


def test_a_trace_runs_when_the_target_goes_down_and_when_it_comes_back():
    tracer = RecordingTracer()
    cycles = _cycles([_ping(1), _ping(1), _ping(0), _ping(0), _ping(1), _ping(1)], tracer)
    assert [t for _, _, t in tracer.calls] == ["down", "up"]
    measurements = [[s.measurement for s in c] for c in cycles]
    assert measurements == [["ping"], ["ping"], ["ping", "path"], ["ping"],
                            ["ping", "path"], ["ping"]]


def test_the_first_cycle_traces_only_when_the_target_is_not_up():
    tracer = RecordingTracer()
    _cycles([_ping(0), _ping(0)], tracer)
    assert [t for _, _, t in tracer.calls] == ["down"]
    tracer = RecordingTracer()
    _cycles([_ping(1), _ping(1)], tracer)
    assert tracer.calls == []


def test_heavy_loss_is_a_state_of_its_own():
    tracer = RecordingTracer()
    _cycles([_ping(1), _ping(1, loss=60.0), _ping(1, loss=80.0), _ping(1, loss=0.0)], tracer)
    assert [t for _, _, t in tracer.calls] == ["lossy", "up"]
    assert ping_state({"up": 1, "loss_pct": 49.9}, 50.0) == "up"


def test_a_trace_longer_than_the_cycle_arrives_with_the_next_cycle():
    tracer = RecordingTracer(delay=0.05)
    queue = [_ping(1), _ping(0), _ping(0)]

    async def collect() -> list[Sample]:
        return [queue.pop(0)]

    async def run() -> list[list[str]]:
        watch = PathWatch(collect, name="far", limit_s=0.01, tracer=tracer)
        first, second = await watch.collect(), await watch.collect()
        await asyncio.sleep(0.2)  # the next interval: the trace ends meanwhile
        third = await watch.collect()
        return [[s.measurement for s in c] for c in (first, second, third)]

    assert asyncio.run(run()) == [["ping"], ["ping"], ["ping", "path"]]


def test_nothing_is_traced_toward_a_name_that_did_not_resolve_and_ipv6_is_traced():
    tracer = RecordingTracer()
    _cycles([_ping(0, sent=0, address="gone.example"), _ping(1, address="::1"),
             _ping(0, address="::1"), _ping(1, address="::1")], tracer)
    assert [(address, trigger) for _name, address, trigger in tracer.calls] == [
        ("::1", "up"), ("::1", "down"), ("::1", "up")]


# -- when the agent cannot trace ------------------------------------------------------------

class NoState:
    def get_state(self, key):
        return None

    def put_state(self, key, value):
        pass


def _checks() -> list[PingCheck]:
    return [PingCheck(name=n, address=a, interval=Seconds(1))
            for n, a in (("far", TARGET), ("near", R1), ("lo", "127.0.0.1"))]


def test_without_scapy_the_ping_checks_run_unwrapped_and_the_log_says_why_once(
        monkeypatch, caplog):
    monkeypatch.setitem(sys.modules, "scapy", None)  # as if it were not installed

    async def collect() -> list[Sample]:
        return [_ping(1)]

    async def run():
        collects = {c.name: collect for c in _checks()}
        async with contextlib.AsyncExitStack() as stack:
            ctx = ProbeContext(store=NoState(), exit_stack=stack)
            return collects, watch_paths(collects, _checks(), ctx)

    with caplog.at_level(logging.INFO, logger="linkwatch.path"):
        before, after = asyncio.run(run())
    assert after == before
    reasons = [r.message for r in caplog.records if "path probing is off" in r.message]
    assert len(reasons) == 1
    assert "pip install 'linkwatch[path]'" in reasons[0]


def test_a_scapy_that_fails_to_import_stops_tracing_with_one_warning(monkeypatch, caplog):
    monkeypatch.setitem(sys.modules, "scapy.layers.inet", None)

    async def run() -> list:
        async with contextlib.AsyncExitStack() as stack:
            ctx = ProbeContext(store=NoState(), exit_stack=stack)
            tracer = Tracer(PathWatchSettings(), asyncio.Semaphore(2), ctx)
            return [await tracer.sample("far", TARGET, "down") for _ in range(3)]

    with caplog.at_level(logging.INFO, logger="linkwatch.path"):
        assert asyncio.run(run()) == [None, None, None]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "needs scapy" in warnings[0].message


def test_checks_that_turn_path_probing_off_are_left_alone(caplog):
    checks = [PingCheck(name="far", address=TARGET, path_probe=False)]

    async def collect() -> list[Sample]:
        return []

    async def run():
        async with contextlib.AsyncExitStack() as stack:
            ctx = ProbeContext(store=NoState(), exit_stack=stack)
            return watch_paths({"far": collect}, checks, ctx)

    with caplog.at_level(logging.INFO, logger="linkwatch.path"):
        assert asyncio.run(run()) == {"far": collect}
    assert caplog.records == []


def test_loading_the_hook_does_not_load_scapy():
    code = ("import sys, linkwatch.collector.path.probe, linkwatch.agent.cli.path; "
            "print([m for m in sys.modules if m.startswith('scapy')])")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=REPO, env=dict(os.environ), check=True)
    assert done.stdout.strip() == "[]"


# -- a real trace over loopback (raw socket: root only) ------------------------------------

@pytest.mark.skipif(os.geteuid() != 0, reason="a raw socket needs CAP_NET_RAW")
@pytest.mark.parametrize("protocol", ["icmp", "udp"])
@pytest.mark.parametrize("address", ["127.0.0.1", "::1"])
def test_loopback_is_reached_in_one_hop(protocol, address):
    from linkwatch.collector.path.traceroute import traceroute

    trace = asyncio.run(traceroute(address, TraceSettings(timeout_s=2, protocol=protocol),
                                   ident=4242))
    fields = path_fields(trace)
    assert (fields["reached"], fields["last_hop"], fields["last_hop_address"]) == (
        1, 1, address)
    assert fields["hops"].startswith(f"1 {address} ")
