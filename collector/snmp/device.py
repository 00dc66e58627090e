"""One polled device: what it remembers between cycles, and one cycle's samples.

A cycle always ends within the check's `timeout` (default: its interval) with a `device`
point: up=1 with what was read, or up=0 with the reason logged (once per change of reason)
when the device did not answer, answered with an error, answered without end, or too slowly
to finish in time. The one exception is a cycle that ran out of time while this device was
still queueing for a request slot behind others: that says nothing about this device, so
it writes nothing and the log says to raise `max_concurrent`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from linkwatch.collector.sample import Sample, StateStore
from linkwatch.collector.snmp import ifmib, oids, smi
from linkwatch.collector.snmp.check import SnmpCheck, SnmpOid
from linkwatch.collector.snmp.client import (
    Counter32,
    DeviceClient,
    Effort,
    PySnmpError,
    SnmpError,
    SnmpSession,
    Value,
)
from linkwatch.collector.snmp.ifmib import IfCounters, IfMeta
from linkwatch.collector.snmp.oids import Oid, parse_oid
from linkwatch.collector.snmp.profiles.poll import ProfilePoller
from linkwatch.collector.snmp.rates import (
    Clock,
    Interval,
    OctetReading,
    Verdict,
    bit_rates,
    interval,
)
from linkwatch.collector.snmp.rates import rate as counter_rate

log = logging.getLogger(__name__)

# Readings older than this many intervals give no rate (after an agent restart or a long
# outage); the next cycle starts a fresh baseline.
MAX_GAP_INTERVALS = 5
_STATE_VERSION = 1
# A cycle ends this much before the check's timeout (at most this share of it), so its
# up=0 reaches the agent before the scheduler gives up on the cycle.
_TIMEOUT_MARGIN_S = 1.0
_TIMEOUT_MARGIN_SHARE = 0.1


@dataclass
class _Previous:
    """The last readings, persisted so a restarted agent still gets a rate on its first cycle."""

    clock: Clock
    ifs: dict[int, OctetReading] = field(default_factory=dict)
    oids: dict[str, tuple[int, int]] = field(default_factory=dict)   # key → (value, bits)
    # a declared OID's field → the type of its first value (int, float, str): kept, never changed
    kinds: dict[str, str] = field(default_factory=dict)

    def dump(self, address: str) -> bytes:
        return json.dumps({
            "v": _STATE_VERSION, "address": address, "wall_s": self.clock.wall_s,
            "uptime": self.clock.uptime_ticks,
            "ifs": {str(i): [r.in_octets, r.out_octets, r.bits, r.discontinuity]
                    for i, r in self.ifs.items()},
            "oids": self.oids, "kinds": self.kinds,
        }, separators=(",", ":")).encode()

    @classmethod
    def load(cls, raw: bytes | None, address: str) -> _Previous | None:
        if not raw:
            return None
        try:
            d = json.loads(raw)
            if d.get("v") != _STATE_VERSION or d.get("address") != address:
                return None   # another device now has this check's name: no common base
            return cls(Clock(float(d["wall_s"]), d["uptime"]),
                       {int(i): OctetReading(*r) for i, r in d["ifs"].items()},
                       {k: (int(v[0]), int(v[1])) for k, v in d["oids"].items()},
                       {str(k): str(v) for k, v in d.get("kinds", {}).items()})
        except (ValueError, KeyError, TypeError) as e:
            log.warning("snmp: ignoring unreadable saved counters (%s)", e)
            return None


@dataclass(frozen=True)
class _UserOid:
    spec: SnmpOid
    oid: Oid


class Device:
    """Polls one `SnmpCheck`; `collect` is its Collect coroutine function."""

    def __init__(self, check: SnmpCheck, session: SnmpSession, store: StateStore,
                 time_ns: Callable[[], int]) -> None:
        self.check = check
        self._session = session
        self._store = store
        self._time_ns = time_ns
        self._key = f"snmp/{check.name}"
        self._client: DeviceClient | None = None
        self._metas: dict[int, IfMeta] | None = None
        self._meta_at = 0.0
        self._last_change: Value | None = None
        self._candidates: list[int] = []
        self._need_32 = True          # until a cycle shows every interface has ifHC*
        self._has_discontinuity = True
        self._probe_widths = True
        self._prev: _Previous | None = None
        self._loaded = False
        self._down_reason: str | None = None   # why the last cycle was up=0 (None: it was up)
        self._queued_out = False               # the last cycle ran out of time in the queue
        self._rejected: dict[tuple[str, str], str] = {}   # (where, field) → value, logged
        self._strays = False
        self._user = tuple(_UserOid(o, parse_oid(o.oid)) for o in check.oids)
        self._profiles = ProfilePoller(check)
        limit = float(check.timeout or check.interval)   # the scheduler's limit too
        self.budget_s = limit - min(_TIMEOUT_MARGIN_S, _TIMEOUT_MARGIN_SHARE * limit)

    async def collect(self) -> list[Sample]:
        now_ns = self._time_ns()
        effort = Effort()
        try:
            async with asyncio.timeout(self.budget_s) as deadline:
                samples = await self._poll(now_ns, effort)
        except TimeoutError:
            if not deadline.expired():
                raise
            return self._out_of_time(now_ns, effort)
        except (SnmpError, PySnmpError, OSError) as e:
            # Expected for a device that is off, unreachable, refuses our credentials or
            # answers without end: up=0, nothing else.
            return self._down(now_ns, str(e))
        self._queued_out = False
        if self._down_reason is not None:
            log.info("snmp %s answers again", self.check.name)
        self._down_reason = None
        self._note_strays(effort)
        return samples

    def _out_of_time(self, now_ns: int, effort: Effort) -> list[Sample]:
        """The cycle's time is up: the device's fault (up=0) when it had the time itself."""
        waited = effort.waited(time.monotonic())
        if effort.in_request or effort.device_s >= waited:
            return self._down(now_ns, (
                f"no complete answer within {self.budget_s:g} s ({effort.device_s:.1f} s "
                f"of it waiting for the device's answers, {waited:.1f} s for a request "
                "slot; raise timeout, or poll fewer interfaces or OIDs)"))
        if not self._queued_out:
            log.warning("snmp %s: not polled this cycle: %.1f s of its %g s went waiting for "
                        "one of the agent's %d request slots (raise max_concurrent)",
                        self.check.name, waited, self.budget_s,
                        self._session.max_in_flight)
        self._queued_out = True
        return []

    def _down(self, now_ns: int, reason: str) -> list[Sample]:
        # Logged once per reason, not once per cycle.
        self._queued_out = False
        if reason != self._down_reason:
            log.warning("snmp %s (%s:%s) is down: %s", self.check.name, self.check.address,
                        self.check.port, reason)
        self._down_reason = reason
        return [self._device_sample(now_ns, {"up": 0})]

    def _note_strays(self, effort: Effort) -> None:
        if effort.stray and not self._strays:
            log.warning("snmp %s sent values for OIDs it was not asked for, or out of order; "
                        "they were ignored (logged once until it stops)", self.check.name)
        self._strays = bool(effort.stray)

    def _note_rejected(self, rejected: dict[tuple[str, str], str]) -> None:
        """Log values left out: each once when it starts, once when it ends."""
        for (where, name), problem in rejected.items():
            if (where, name) not in self._rejected:
                log.warning("snmp %s %s: %s: %s; left out, the rest of the point is kept "
                            "(logged once until it changes)", self.check.name, where, name,
                            problem)
        for where, name in self._rejected.keys() - rejected.keys():
            log.info("snmp %s %s: %s has a usable value again", self.check.name, where, name)
        self._rejected = rejected

    def _device_sample(self, now_ns: int, fields: dict) -> Sample:
        return Sample("device", {"device": self.check.name, "address": self.check.address},
                      fields, now_ns)

    async def _poll(self, now_ns: int, effort: Effort) -> list[Sample]:
        check = self.check
        if self._client is None:
            self._client = await self._session.client(check)
        client = self._client
        client.effort = effort
        rejected: dict[tuple[str, str], str] = {}
        await self._profiles.prepare(client)
        if not self._loaded:
            self._prev = _Previous.load(self._store.get_state(self._key), check.address)
            self._loaded = True
        wall = now_ns / 1e9
        sel = check.interfaces
        if sel.enabled and (self._metas is None
                            or wall - self._meta_at >= check.metadata_refresh):
            await self._read_meta(client, wall)

        columns = self._counter_columns()
        scalars = (oids.SYS_UPTIME, oids.IF_TABLE_LAST_CHANGE, *self._profiles.scalars)
        table, found = await self._read_counters(client, columns, scalars)
        last_change = found.get(oids.IF_TABLE_LAST_CHANGE)
        if sel.enabled and last_change is not None and last_change != self._last_change:
            await self._read_meta(client, wall)   # interfaces were added, removed or renamed
            table, found = await self._read_counters(client, self._counter_columns(), scalars)
        uptime = smi.unsigned32(found.get(oids.SYS_UPTIME))   # TimeTicks
        if uptime is None and oids.SYS_UPTIME in found:
            rejected["device", "sys_uptime_s"] = smi.bad(found[oids.SYS_UPTIME])
        counters = ifmib.parse_counters(table, None if self._use_walk() else self._candidates)
        if self._probe_widths and sel.enabled:
            listed = [counters[i] for i in self._candidates if i in counters]
            self._need_32 = any(c.bits == 32 for c in listed) or check.version == "1"
            self._has_discontinuity = any(c.discontinuity is not None for c in listed)
            self._probe_widths = False

        clock = Clock(wall, uptime)
        prev = self._prev
        max_gap = MAX_GAP_INTERVALS * float(check.interval)
        span = interval(prev.clock, clock, max_gap_s=max_gap) if prev else Interval(Verdict.SKIP)
        reset = span.verdict is Verdict.RESET
        cur = _Previous(clock)
        samples: list[Sample] = []

        for index in self._candidates if sel.enabled else ():
            meta, c = (self._metas or {}).get(index), counters.get(index)
            if meta is None or c is None or not ifmib.keep(meta, c, sel, check.uplink):
                continue
            point, was_reset = self._interface(meta, c, prev, span, cur, now_ns)
            reset = reset or was_reset
            samples.append(point)
            for name, value in (*meta.rejected, *c.rejected):
                rejected[f"{meta.name} (ifIndex {index})", name] = smi.bad(value)

        if self._user:
            user_points, user_reset = await self._user_oids(client, prev, span, cur, now_ns,
                                                            rejected)
            samples.extend(user_points)
            reset = reset or user_reset
        samples.extend(await self._profiles.collect(client, found, wall_s=wall, time_ns=now_ns))

        self._prev = cur
        self._store.put_state(self._key, cur.dump(check.address))
        for oid, why in effort.replaced:
            rejected[f"OID {oid}", "value"] = why   # refused before it was even decoded
        self._note_rejected(rejected)
        # the device's own time: requests out to it, not the wait for a request slot
        fields: dict = {"up": 1, "poll_ms": round(effort.device_s * 1000, 1),
                        "counter_reset": int(reset)}
        if clock.uptime_ticks is not None:
            fields["sys_uptime_s"] = clock.uptime_ticks / 100
        samples.append(self._device_sample(now_ns, fields))
        return samples

    def _counter_columns(self) -> tuple[Oid, ...]:
        cols: list[Oid] = []
        if self.check.version != "1":
            cols += ifmib.HC_COLUMNS
        if self._need_32 or self._probe_widths:
            cols += ifmib.LEGACY_COLUMNS
        cols += ifmib.STATUS_COLUMNS
        if self.check.version != "1" and (self._has_discontinuity or self._probe_widths):
            cols.append(oids.IF_COUNTER_DISCONTINUITY_TIME)
        return tuple(cols)

    def _use_walk(self) -> bool:
        """Walk whole columns, or GET just the chosen rows when they are few (a router's
        uplink among fifty ports costs two requests instead of a table walk)."""
        total = len(self._metas or {})
        return len(self._candidates) * 2 > total

    async def _read_meta(self, client: DeviceClient, wall: float) -> None:
        walk = await client.walk(ifmib.META_COLUMNS, (oids.IF_TABLE_LAST_CHANGE,))
        self._metas = ifmib.parse_meta(walk.columns)
        self._meta_at = wall
        self._last_change = walk.scalars.get(oids.IF_TABLE_LAST_CHANGE)
        self._candidates = ifmib.candidates(self._metas, self.check.interfaces,
                                            self.check.uplink)
        self._probe_widths = True

    async def _read_counters(self, client: DeviceClient, columns: tuple[Oid, ...],
                             scalars: tuple[Oid, ...],
                             ) -> tuple[dict[Oid, dict[Oid, Value]], dict[Oid, Value]]:
        if not self.check.interfaces.enabled or not self._candidates:
            got = await client.get([(*s, 0) for s in scalars])
            return {}, {s: got[(*s, 0)] for s in scalars if (*s, 0) in got}
        if self._use_walk():
            walk = await client.walk(columns, scalars)
            return walk.columns, walk.scalars
        wanted = [(*s, 0) for s in scalars]
        wanted += [(*col, i) for i in self._candidates for col in columns]
        got = await client.get(wanted)
        table: dict[Oid, dict[Oid, Value]] = {col: {} for col in columns}
        for col in columns:
            for i in self._candidates:
                if (*col, i) in got:
                    table[col][(i,)] = got[(*col, i)]
        return table, {s: got[(*s, 0)] for s in scalars if (*s, 0) in got}

    def _interface(self, meta: IfMeta, c: IfCounters, prev: _Previous | None, span: Interval,
                   cur: _Previous, now_ns: int) -> tuple[Sample, bool]:
        check = self.check
        fields: dict = {}
        for name in ("in_octets", "out_octets", "oper_status", "admin_status", "in_errors",
                     "out_errors", "in_discards", "out_discards"):
            value = getattr(c, name)
            if value is not None:
                fields[name] = int(value)
        if meta.speed_bps is not None:
            fields["speed_bps"] = meta.speed_bps
        reset = False
        if c.in_octets is not None or c.out_octets is not None:
            reading = OctetReading(c.in_octets, c.out_octets, c.bits, c.discontinuity)
            cur.ifs[meta.index] = reading
            before = prev.ifs.get(meta.index) if prev else None
            if before is not None:
                rates = bit_rates(before, reading, span, meta.speed_bps)
                reset = rates.verdict is Verdict.RESET
                if rates.verdict is Verdict.OK:
                    uplink = check.uplink is not None and ifmib.is_uplink(meta, check.uplink)
                    # Seen from the site: its uplink's in-direction is its download.
                    cap_in = (check.capacity_down if uplink and check.capacity_down
                              else meta.speed_bps)
                    cap_out = (check.capacity_up if uplink and check.capacity_up
                               else meta.speed_bps)
                    for side, bps, cap in (("in", rates.in_bps, cap_in),
                                           ("out", rates.out_bps, cap_out)):
                        if bps is None:
                            continue   # that counter had no usable value
                        fields[f"{side}_bps"] = bps
                        if cap:
                            fields[f"{side}_util_pct"] = 100.0 * bps / cap
        tags = {"device": check.name, "if_index": str(meta.index), "if_name": meta.name,
                "if_alias": meta.alias}
        return Sample("interface", tags, fields, now_ns), reset

    async def _user_oids(self, client: DeviceClient, prev: _Previous | None, span: Interval,
                         cur: _Previous, now_ns: int, rejected: dict[tuple[str, str], str],
                         ) -> tuple[list[Sample], bool]:
        scalars = [u for u in self._user if not u.spec.table]
        columns = [u for u in self._user if u.spec.table]
        rows: dict[str, dict] = {}   # index ("" for scalars) → fields
        reset = False
        got = await client.get([u.oid for u in scalars]) if scalars else {}
        values: list[tuple[_UserOid, str, Value]] = [
            (u, "", got[u.oid]) for u in scalars if u.oid in got]
        if columns:
            walk = await client.walk(tuple(dict.fromkeys(u.oid for u in columns)))
            for u in columns:
                for idx, v in walk.columns.get(u.oid, {}).items():
                    values.append((u, ".".join(map(str, idx)), v))
        cur.kinds = dict(prev.kinds) if prev else {}
        for u, index, value in values:
            fields = rows.setdefault(index, {})
            name = u.spec.field
            number = smi.number(value)
            field_value: int | float | str
            if number is not None:
                field_value = number * u.spec.scale if u.spec.scale != 1 else number
            elif isinstance(value, int):
                rejected[_row(index), name] = smi.bad(value)   # an integer out of range
                continue
            else:
                field_value = value.decode(errors="replace") if isinstance(
                    value, bytes) else str(value)
            # A field keeps the type of its first value: InfluxDB refuses a point whose
            # field changed type, with every other field in it.
            kind = cur.kinds.setdefault(name, type(field_value).__name__)
            if kind == "float" and isinstance(field_value, int):
                field_value = float(field_value)
            elif kind == "str" and not isinstance(field_value, str):
                field_value = value.decode(errors="replace") if isinstance(
                    value, bytes) else str(value)
            elif kind != type(field_value).__name__:
                rejected[_row(index), name] = (f"{smi.shown(value)} is not a {kind} like "
                                               "its earlier values")
                continue
            fields[name] = field_value
            if u.spec.rate and number is not None and isinstance(value, int):
                bits = 32 if isinstance(value, Counter32) else 64
                key = f"{name}/{index}"
                cur.oids[key] = (int(value), bits)
                before = prev.oids.get(key) if prev else None
                if before is not None and span.verdict is Verdict.OK and before[1] == bits:
                    r = counter_rate(before[0], int(value), bits=bits, seconds=span.seconds)
                    reset = reset or r.verdict is Verdict.RESET
                    if r.per_s is not None:
                        fields[f"{name}_per_s"] = r.per_s * u.spec.scale
        samples = []
        for index, fields in rows.items():
            if not fields:
                continue   # every value of this row was left out
            tags = {"device": self.check.name}
            if index:
                tags["index"] = index
            samples.append(Sample("snmp", tags, fields, now_ns))
        return samples, reset


def _row(index: str) -> str:
    return f"row {index}" if index else "scalar"
