"""A realistic month of measurements for a config's sites, so a report can be read on day one.

    linkwatch demo seed -c docs/examples/district.yaml --local --month 2026-10   # a demo spool
    linkwatch demo seed -c docs/examples/district.yaml --month 2026-10           # InfluxDB

The demo never mixes with real data: it goes to a store of its own, a spool under the
user's cache directory (`demo_spool_path`) or the database `<database>_demo` of the output,
and every reading verb reads it with `--demo` (`demo_config` points a config at those
stores). `--real` writes into the config's own spool or database instead, and is refused
when that spool would not keep the month (its `history`) or could not hold it (`max_size`).

Every ping check gets one sample per cycle at its interval, and every SNMP check with an
`uplink` one `interface` sample per cycle for that interface, as the agent writes them (same
measurements, tags and fields: docs/design.md "Data model"). Traffic follows a daily and
weekly cycle with office-hour peaks. What the month holds is planted, with known answers
(`Scenario`): a commune whose link saturates, a microwave hop with rain fade, a week-long
fibre cut, a parent outage its children are not charged for, sites with no link yet, and a
day and a half when the agent itself was down (no samples at all: UNKNOWN, not down).

The same seed, month and config always give the same samples.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import itertools
import math
import os
import random
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from linkwatch.agent.config.schema import Config, InfluxOutput, Output, Site, Uplink
from linkwatch.agent.query.timerange import Month
from linkwatch.collector.sample import Sample
from linkwatch.collector.units import Seconds

if TYPE_CHECKING:
    from linkwatch.agent.spool import Spool

SEED = 20261001
_NS = 1_000_000_000
DEMO_SUFFIX = "_demo"               # of the demo's InfluxDB database (or bucket)
_DEMO_HISTORY = Seconds(3650 * 86400)   # the demo spool keeps whatever month it was given
BYTES_PER_SAMPLE = 330              # on disk in a spool, measured on the district's month
# progress(what, done, total), called while samples are written
Progress = Callable[[str, int, int], None]


def demo_spool_path(config: Config) -> Path:
    """The demo's own spool for this config, in the user's cache directory, so a normal
    user can write it and it never touches the agent's spool."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    source = (config.source or Path("config.yaml")).absolute()
    digest = hashlib.sha256(str(source).encode()).hexdigest()[:10]
    return cache / "linkwatch" / "demo" / f"{source.stem}-{digest}.db"


def demo_output(output: InfluxOutput) -> InfluxOutput:
    """The output pointed at its demo database (v1) and bucket (v2)."""
    return dataclasses.replace(
        output, database=output.database + DEMO_SUFFIX,
        bucket=None if output.bucket is None else output.bucket + DEMO_SUFFIX)


def demo_config(config: Config) -> Config:
    """The config with its stores replaced by the demo's: what `--demo` reads."""
    spool = dataclasses.replace(config.agent.spool, path=demo_spool_path(config),
                                history=_DEMO_HISTORY)
    return dataclasses.replace(
        config, agent=dataclasses.replace(config.agent, spool=spool),
        # victoria-metrics has no database of its own for a demo: not read with --demo
        outputs=tuple(demo_output(o) for o in config.outputs if isinstance(o, InfluxOutput)))


def expected_samples(config: Config, month: Month, scenario: Scenario | None = None) -> int:
    """About how many samples `samples()` yields for the month (for progress and room)."""
    scenario = scenario or Scenario()
    seconds = (month.until_ns - month.since_ns) / _NS
    total = sum(seconds / c.interval_s for c in config.checks.of("ping"))
    total += sum(seconds / c.interval_s for c in config.checks.all
                 if c.uplink is not None and c.site not in scenario.no_link)
    return int(total)


def refusal_for_spool(config: Config, month: Month, now_ns: int) -> str | None:
    """Why the config's own spool would not keep the month, or None when it would."""
    history = float(config.agent.spool.history)
    oldest_kept = now_ns - int(history * _NS)
    if month.since_ns < oldest_kept:
        return (f"the spool keeps {_days(history)} of history (agent.spool.history in "
                f"{config.source}), so {month} would be pruned as soon as it is written: "
                "leave out --real to write the demo's own spool, or choose a --month "
                "inside the history")
    need = expected_samples(config, month) * BYTES_PER_SAMPLE
    if need > 0.9 * float(config.agent.spool.max_size):
        return (f"{month} takes about {need / 2**20:.0f} MiB, more than the spool holds "
                f"(agent.spool.max_size {float(config.agent.spool.max_size) / 2**20:.0f} MiB):"
                " the oldest days would be evicted; leave out --real to write the demo's "
                "own spool")
    return None


def _days(seconds: float) -> str:
    return f"{seconds / 86400:g} days"


@dataclass(frozen=True)
class Window:
    """[start, end) in local time, as offsets from the month's first midnight."""

    start: dt.timedelta
    end: dt.timedelta


def _at(day: int, hour: float) -> dt.timedelta:
    return dt.timedelta(days=day - 1, hours=hour)


@dataclass(frozen=True)
class Scenario:
    """What the demo month holds. The defaults fit docs/examples/district.yaml; sites of
    another config get ordinary traffic and availability from the same rules."""

    # traffic level at the weekday office peak, as a share of the contracted capacity
    peak: dict[str, float] = field(default_factory=lambda: {
        "district-lan": 0.55, "admin-centre": 0.62, "cai-rong": 0.38, "dong-xa": 0.5,
        "ha-long": 0.45, "van-yen": 0.52, "doan-ket": 0.58, "binh-dan": 0.48,
        "dai-xuyen": 0.74, "quan-lan": 1.15, "minh-chau": 0.66,
    })
    saturating: str = "quan-lan"              # demand above capacity at office peaks
    healthy: str = "cai-rong"                 # nothing planted
    rain_fade: str = "minh-chau"              # microwave: loss on rainy afternoons
    rainy_days: tuple[int, ...] = (3, 4, 9, 15, 16, 17, 22, 28)
    long_outage: tuple[str, Window] = ("dong-xa", Window(_at(6, 9), _at(13, 9)))
    parent_outage: tuple[str, Window] = ("quan-lan", Window(_at(25, 14), _at(25, 17)))
    agent_down: Window = Window(_at(20, 8), _at(21, 20))
    no_link: tuple[str, ...] = ("ngoc-vung", "thang-loi", "ban-sen")
    flaps_per_month: int = 3                  # short failures (1-2 cycles) per target


def _rng(*parts: object) -> random.Random:
    return random.Random(zlib.crc32("/".join(map(str, (SEED, *parts))).encode()))


@dataclass
class _Plan:
    """The planted state of one month, in nanoseconds."""

    month: Month
    scenario: Scenario
    sites: dict[str, Site]
    agent_down: tuple[int, int]
    outages: dict[str, list[tuple[int, int]]]  # site → its link's own down windows

    def down(self, site: str, t: int) -> bool:
        """The site's link (or one on its way to the district) is down at t."""
        seen = set()
        current: str | None = site
        while current and current not in seen:
            seen.add(current)
            if current in self.scenario.no_link:
                return True
            if any(a <= t < b for a, b in self.outages.get(current, ())):
                return True
            parent = self.sites.get(current)
            current = parent.parent if parent else None
        return False


def _plan(config: Config, month: Month, scenario: Scenario) -> _Plan:
    outages: dict[str, list[tuple[int, int]]] = {}
    for name, window in (scenario.long_outage, scenario.parent_outage):
        outages.setdefault(name, []).append((month.ns(window.start), month.ns(window.end)))
    return _Plan(month, scenario, {s.name: s for s in config.sites},
                 (month.ns(scenario.agent_down.start), month.ns(scenario.agent_down.end)),
                 outages)


def _office_profile(local: dt.datetime) -> float:
    """Share of the office peak at this local time: Vietnamese office hours 07:30-11:30 and
    13:30-17:00 on weekdays, a lunch dip, quiet nights and weekends."""
    h = local.hour + local.minute / 60
    night = 0.06 + 0.04 * math.cos((h - 21) / 24 * 2 * math.pi)
    if local.weekday() >= 5:
        return night + 0.12 * math.exp(-((h - 10) / 3) ** 2)
    morning = math.exp(-((h - 9.3) / 1.6) ** 2)
    afternoon = 0.92 * math.exp(-((h - 15.0) / 1.5) ** 2)
    return night + (1 - night) * max(morning, afternoon)


def samples(config: Config, month: Month, scenario: Scenario | None = None,
            *, agent: str | None = None) -> Iterator[list[Sample]]:
    """The month's samples, one list per check (ping targets, then uplink interfaces)."""
    scenario = scenario or Scenario()
    plan = _plan(config, month, scenario)
    agent_name = agent or config.agent.name
    for check in config.checks.of("ping"):
        yield list(_ping(plan, agent_name, check.site, check.name, check.address or "",
                         check.interval_s, check.spec.count))
    for check in config.checks.all:
        if check.uplink is None or check.site in scenario.no_link:
            continue
        yield list(_interface(plan, agent_name, check.uplink, check.interval_s))


def _cycles(plan: _Plan, interval_s: float, *key: object) -> Iterator[int]:
    step = int(interval_s * _NS)
    t = plan.month.since_ns + _rng("phase", *key).randrange(0, step, _NS)
    low, high = plan.agent_down
    while t < plan.month.until_ns:
        if not low <= t < high:
            yield t
        t += step


def _ping(plan: _Plan, agent: str, site: str, target: str, address: str,
          interval_s: float, count: int) -> Iterator[Sample]:
    rng = _rng("ping", target)
    sc = plan.scenario
    base_rtt = _base_rtt(plan, site)
    flaps = {rng.randrange(plan.month.since_ns, plan.month.until_ns) // _NS
             for _ in range(sc.flaps_per_month)}
    flap_left = 0
    tags = {"agent": agent, "site": site, "target": target, "address": address}
    tz = plan.month.tz
    capacity = _capacity_down(plan.sites.get(site))
    for t in _cycles(plan, interval_s, "ping", target):
        if any(f <= t // _NS < f + interval_s for f in flaps):
            flap_left = rng.randint(1, 2)
        if plan.down(site, t) or flap_left > 0:
            flap_left = max(0, flap_left - 1)
            yield Sample("ping", tags, {"sent": count, "received": 0, "loss_pct": 100.0,
                                        "up": 0}, t)
            continue
        local = dt.datetime.fromtimestamp(t / _NS, tz)
        load = _demand(plan, site, local, rng) if capacity else 0.3
        rtt = base_rtt * (1 + 0.1 * rng.random())
        loss_p = 0.0005
        if load > 0.9:                       # a full queue: delay and drops (bufferbloat)
            rtt += 60 + 340 * min(1.0, (load - 0.9) * 4) * rng.random()
            loss_p = 0.01 + 0.03 * min(1.0, load - 0.9)
        if site == sc.rain_fade and local.day in sc.rainy_days and 13 <= local.hour < 19:
            loss_p = 0.04 + 0.12 * rng.random()
            rtt *= 1.5
        received = sum(rng.random() >= loss_p for _ in range(count))
        if received == 0:
            received = 1
        rtts = sorted(max(0.1, rng.gauss(rtt, rtt * 0.08)) for _ in range(received))
        avg = sum(rtts) / received
        mdev = math.sqrt(sum((r - avg) ** 2 for r in rtts) / received)
        jitter = (sum(abs(a - b) for a, b in itertools.pairwise(rtts))
                  / max(1, received - 1))
        yield Sample("ping", tags, {
            "sent": count, "received": received,
            "loss_pct": round(100.0 * (count - received) / count, 3),
            "rtt_min_ms": round(rtts[0], 3), "rtt_avg_ms": round(avg, 3),
            "rtt_max_ms": round(rtts[-1], 3), "rtt_mdev_ms": round(mdev, 3),
            "jitter_ms": round(jitter, 3), "up": 1}, t)


def _base_rtt(plan: _Plan, site: str) -> float:
    """Round trip from the district office: LAN, fibre, submarine cable, microwave hops."""
    depth, name = 0, site
    while name in plan.sites and plan.sites[name].parent:
        depth += 1
        name = plan.sites[name].parent or ""
    if site == plan.scenario.rain_fade or depth >= 2:
        return 38.0
    if site == plan.scenario.saturating:
        return 22.0
    return 0.8 if plan.sites.get(site) is None or depth == 0 else 6.0


def _capacity_down(site: Site | None) -> float | None:
    return float(site.capacity.down) if site and site.capacity else None


def _demand(plan: _Plan, site: str, local: dt.datetime, rng: random.Random) -> float:
    """Offered load as a share of capacity (may pass 1: more than the link can carry)."""
    peak = plan.scenario.peak.get(site, 0.45)
    day_factor = 0.9 + 0.2 * _rng("day", site, local.date()).random()
    return peak * _office_profile(local) * day_factor * (0.9 + 0.2 * rng.random())


def _interface(plan: _Plan, agent: str, uplink: Uplink, interval_s: float
               ) -> Iterator[Sample]:
    site, device = uplink.site, uplink.device
    rng = _rng("interface", device)
    down_bps = uplink.capacity_bps["in"] or 1e9
    up_bps = uplink.capacity_bps["out"] or 1e9
    speed = 100e6 if max(down_bps, up_bps) < 100e6 else 1e9
    # an uplink named by its ifIndex is that index; one named by name or alias is port 1
    index = uplink.interface if uplink.interface.isdigit() else "1"
    tags = {"agent": agent, "site": site, "device": device, "if_index": index,
            "if_name": uplink.interface, "if_alias": uplink.interface}
    in_octets = rng.randrange(2**40)
    out_octets = rng.randrange(2**40)
    step = interval_s
    for t in _cycles(plan, interval_s, "snmp", device):
        if plan.down(site, t):
            continue                          # the router does not answer: no sample
        local = dt.datetime.fromtimestamp(t / _NS, plan.month.tz)
        demand = _demand(plan, site, local, rng)
        # a link carries at most ~97% of its capacity, however much is offered
        in_bps = min(demand, 0.97 * (0.985 + 0.015 * rng.random())) * down_bps
        out_share = min(demand * 0.55 * (0.8 + 0.4 * rng.random()), 0.96)
        out_bps = out_share * up_bps
        in_octets = (in_octets + int(in_bps * step / 8)) % 2**64
        out_octets = (out_octets + int(out_bps * step / 8)) % 2**64
        yield Sample("interface", tags, {
            "in_octets": in_octets, "out_octets": out_octets,
            "in_bps": round(in_bps, 1), "out_bps": round(out_bps, 1),
            "in_util_pct": round(100 * in_bps / down_bps, 3),
            "out_util_pct": round(100 * out_bps / up_bps, 3),
            "speed_bps": int(speed), "oper_status": 1, "admin_status": 1,
            "in_errors": 0, "out_errors": 0, "in_discards": 0, "out_discards": 0}, t)


def seed_spool(spool: Spool, config: Config, month: Month, *, batch: int = 20_000,
               progress: Progress | None = None) -> int:
    """Appends the month to a spool in large transactions; returns the sample count."""
    total, expected = 0, expected_samples(config, month)
    for check_samples in samples(config, month):
        for i in range(0, len(check_samples), batch):
            chunk = check_samples[i:i + batch]
            spool.append(chunk)
            total += len(chunk)
            if progress is not None:
                progress(f"writing {month}", total, max(total, expected))
    if progress is not None:
        progress(f"writing {month}", total, total)
    return total


def seed_output(output: Output, config: Config, month: Month, *, batch: int = 20_000,
                progress: Progress | None = None) -> int:
    """Writes the month to an output as the agent would (InfluxDB /write as gzip line
    protocol, or victoria-metrics' /write), creating an InfluxDB database first where the
    output allows; returns the sample count. Raises RuntimeError naming the server's
    answer."""
    from linkwatch.agent.datamodel.lineprotocol import encode
    from linkwatch.agent.outputs.create import create_store
    from linkwatch.agent.outputs.version import open_writer

    writer = open_writer(output, "1")
    total, expected, created = 0, expected_samples(config, month), False
    try:
        for check_samples in samples(config, month):
            for i in range(0, len(check_samples), batch):
                chunk = check_samples[i:i + batch]
                body = b"\n".join(encode(s) for s in chunk)
                result = writer.write(body)
                if (result.http_status == 404 and isinstance(output, InfluxOutput)
                        and output.create_database and not created):
                    created = True
                    creation = create_store(output, "1")
                    if not creation.created:
                        raise RuntimeError(f"{output.shown_url}: {creation.message}")
                    result = writer.write(body)
                if not result.ok:
                    raise RuntimeError(f"{output.shown_url}/write: {result.message or result}")
                total += len(chunk)
                if progress is not None:
                    progress(f"writing {month}", total, max(total, expected))
    finally:
        writer.close()
    if progress is not None:
        progress(f"writing {month}", total, total)
    return total
