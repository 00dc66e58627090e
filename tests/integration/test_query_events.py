"""Every change of state and every data gap found by victoria-metrics exactly as the local
history finds it from all the samples: jittered timestamps, flaps across hour boundaries,
gaps just over two intervals, gaps of hours, a gap inside an hour that still holds its full
number of samples, targets that start or stop mid-period, points sent twice."""

from __future__ import annotations

import random

import pytest

from linkwatch.agent.config.schema import VictoriaOutput
from linkwatch.agent.datamodel.lineprotocol import encode
from linkwatch.agent.query.local import LocalBackend
from linkwatch.agent.query.selection import Selection
from linkwatch.agent.query.victoria import VictoriaBackend
from linkwatch.agent.spool import Spool
from linkwatch.collector.sample import Sample

pytestmark = pytest.mark.integration

T0 = 1_793_491_200 * 10**9          # 2026-11-01T00:00:00Z
MS = 10**6
S = 1000 * MS
HOURS = 48
INTERVAL_S = 60


def crafted() -> dict[str, list[tuple[int, int]]]:
    """Targets whose samples (time ns, up) hold the awkward cases by construction."""
    step = INTERVAL_S * S
    regular = [T0 + i * step + 250 * MS for i in range(HOURS * 60)]
    out: dict[str, list[tuple[int, int]]] = {}
    # a one-cycle flap on each side of an hour boundary, and a run of failures over one
    out["flaps"] = [(t, 0 if i in (59, 60, 119, 300, 301, 302) else 1)
                    for i, t in enumerate(regular)]
    # a gap just over two intervals (2 min 0.001 s), and one of exactly two (not a gap)
    times = [t for i, t in enumerate(regular) if i not in (100, 101, 500)]
    times = [t + (MS if 102 <= i < 104 else 0) for i, t in enumerate(times)]
    out["near-gaps"] = [(t, 1) for t in times]
    # a gap of three hours starting mid-hour, with the state changed across it
    out["long-gap"] = [(t, 1 if t < T0 + 10 * 3600 * S else 0) for t in regular
                       if not T0 + (7 * 3600 + 1800) * S <= t < T0 + (10 * 3600 + 1800) * S]
    # a gap inside an hour that still holds 60 samples (others came closer together)
    hour = [T0 + 20 * 3600 * S + k * 30 * S for k in range(20)]            # 20 at 30 s
    hour += [T0 + 20 * 3600 * S + (600 + 300 + k * 60) * S for k in range(40)]  # 5 min gap
    out["full-hour-gap"] = [(t, 1) for t in sorted(
        [t for t in regular if not T0 + 20 * 3600 * S <= t < T0 + 21 * 3600 * S] + hour)]
    # starts mid-period, down at first, stops before the end
    out["late"] = [(t, 0 if i < 130 else 1) for i, t in enumerate(regular)
                   if 70 <= i < HOURS * 60 - 90]
    return out


def random_target(rng: random.Random) -> list[tuple[int, int]]:
    samples, t, up = [], T0 + rng.randrange(0, 90) * S, 1
    while t < T0 + HOURS * 3600 * S:
        if rng.random() < 0.03:
            up = 1 - up
        if rng.random() < 0.004:
            t += rng.choice([2, 3, 7, 45, 200]) * INTERVAL_S * S     # a gap
        samples.append((t + rng.randrange(-400, 400) * MS, up))
        t += INTERVAL_S * S
    return samples


@pytest.fixture(scope="module")
def stores(victoria_alone, tmp_path_factory):
    rng = random.Random(20261101)
    targets = crafted() | {f"random-{i}": random_target(rng) for i in range(12)}
    samples = [Sample("ping", {"agent": "a1", "site": "hq", "target": name},
                      {"sent": 5, "received": 5 * up, "up": up}, t)
               for name, points in targets.items() for t, up in points]
    victoria_alone.write([encode(s) for s in samples])
    victoria_alone.write([encode(s) for s in samples[::50]])       # sent twice
    spool = Spool.open(tmp_path_factory.mktemp("events") / "spool.db", max_size=2**28,
                       history_s=3650 * 86400, outputs=[])
    spool.append(samples)
    spool.append(samples[::50])
    output = VictoriaOutput(type="victoriametrics", url=victoria_alone.url)
    yield targets, LocalBackend(spool), VictoriaBackend(output)
    spool.close()


@pytest.mark.parametrize("period", [
    (T0, T0 + HOURS * 3600 * S),
    (T0 + 1234 * S + 5 * MS, T0 + (HOURS - 3) * 3600 * S + 777 * MS)],
    ids=["whole", "off-grid"])
def test_victoria_metrics_finds_the_same_transitions_as_every_sample_shows(stores, period):
    targets, local, vm = stores
    sel = Selection(*period)
    intervals = dict.fromkeys(targets, float(INTERVAL_S))
    want = {s.target: s for s in local.up_series(sel, measurement="ping", tag="target",
                                                  intervals=intervals)}
    got = {s.target: s for s in vm.up_series(sel, measurement="ping", tag="target",
                                             intervals=intervals)}
    assert sorted(got) == sorted(want) == sorted(targets)
    assert sum(len(s.events) for s in want.values()) > 100
    for name, series in want.items():
        assert got[name] == series, name


def test_a_target_missing_from_the_config_is_read_raw(stores):
    _targets, local, vm = stores
    sel = Selection(T0, T0 + HOURS * 3600 * S)
    known = {"flaps": float(INTERVAL_S)}          # every other target: interval unknown
    want = local.up_series(sel, measurement="ping", tag="target", intervals=known)
    assert vm.up_series(sel, measurement="ping", tag="target", intervals=known) == want
