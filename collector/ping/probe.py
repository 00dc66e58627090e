"""The ping probe: one cycle of ICMP echoes per check, all checks sharing a few sockets."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from collections.abc import Sequence
from dataclasses import dataclass

from linkwatch.collector.ping.check import PingCheck
from linkwatch.collector.ping.schedule import EchoSchedule
from linkwatch.collector.ping.stats import ping_fields
from linkwatch.collector.ping.transport import EchoBatch, EchoTransport, TransportPool
from linkwatch.collector.sample import Collect, ProbeContext, Sample

log = logging.getLogger("linkwatch.ping")

_FAMILIES = (socket.AF_INET, socket.AF_INET6)


@dataclass(frozen=True, slots=True)
class _Target:
    family: socket.AddressFamily
    address: str  # as the replies will show it: the `address` tag
    sockaddr: tuple


def _literal(address: str) -> _Target | None:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return None  # a name (or a scoped IPv6 address): ask the resolver
    if ip.version == 4:
        return _Target(socket.AF_INET, str(ip), (str(ip), 0))
    return _Target(socket.AF_INET6, str(ip), (str(ip), 0, 0, 0))


async def _resolve(address: str) -> _Target:
    """The address to probe this cycle; raises OSError (socket.gaierror) when it has none."""
    target = _literal(address)
    if target is not None:
        return target  # no resolver round trip (and no executor thread) for literals
    infos = await asyncio.get_running_loop().getaddrinfo(address, None, type=socket.SOCK_DGRAM)
    for family, _type, _proto, _canonname, sockaddr in infos:
        if family in _FAMILIES:
            return _Target(socket.AddressFamily(family), str(sockaddr[0]), sockaddr)
    raise OSError(f"no IPv4 or IPv6 address for {address!r}")


class PingProbe:
    """The cycles of one check; remembers the last state so it logs only changes."""

    def __init__(self, check: PingCheck, pool: TransportPool, ctx: ProbeContext) -> None:
        self.check = check
        self.schedule = EchoSchedule.for_check(check)
        self._pool = pool
        self._ctx = ctx
        self._state: str | None = None  # "up", or the kind of failure last logged

    def _note(self, state: str, message: str) -> None:
        if state == self._state:
            return
        # the journal's fields for this event (agent.daemon.logs): which check, what state
        fields = {"journal": {"kind": "ping", "check": self.check.name, "state": state}}
        if state == "up":
            if self._state is not None:
                log.info("ping %s: %s", self.check.name, message, extra=fields)
        else:
            log.warning("ping %s: %s", self.check.name, message, extra=fields)
        self._state = state

    def _sample(self, time_ns: int, address: str, *, sent: int, rtts_ms: list[float]) -> Sample:
        return Sample(
            measurement="ping",
            tags={"target": self.check.name, "address": address},
            fields=ping_fields(sent=sent, rtts_ms=rtts_ms),
            time_ns=time_ns,
        )

    async def collect(self) -> list[Sample]:
        """Run one cycle: resolve, send `count` echoes on the schedule, summarise."""
        time_ns = self._ctx.time_ns()
        try:
            target = await _resolve(self.check.address)
        except OSError as exc:
            self._note("unresolved", f"cannot resolve {self.check.address!r}: {exc}")
            return [self._sample(time_ns, self.check.address, sent=0, rtts_ms=[])]
        try:
            transport = self._pool.transport(target.family, self.check.privileged)
        except OSError as exc:
            self._note("no-socket", f"cannot ping {target.address}: {exc}")
            return [self._sample(time_ns, target.address, sent=0, rtts_ms=[])]

        batch = await self._echo(transport, target)
        rtts_ms = [rtt / 1e6 for rtt in batch.rtts_ns if rtt is not None]
        if rtts_ms:
            self._note("up", f"{target.address} answers again")
        elif batch.errors:
            self._note("send-error", f"sending to {target.address} failed: {batch.errors[-1]}")
        else:
            self._note("down", f"no reply from {target.address} to {self.schedule.count} echoes")
        return [self._sample(time_ns, target.address, sent=self.schedule.count, rtts_ms=rtts_ms)]

    async def _echo(self, transport: EchoTransport, target: _Target) -> EchoBatch:
        loop = asyncio.get_running_loop()
        schedule = self.schedule
        batch = EchoBatch(schedule.count, int(schedule.wait_s * 1e9), loop)
        start = loop.time()
        expiry = None
        try:
            for index in range(schedule.count):
                if index:
                    await asyncio.sleep(start + index * schedule.spacing_s - loop.time())
                try:
                    transport.send(target.address, target.sockaddr, batch, index)
                except OSError as exc:  # e.g. no route: this echo is lost
                    batch.refused(exc)
            batch.all_sent()
            expiry = loop.call_later(schedule.wait_s, batch.expire)
            await batch.done
        finally:
            if expiry is not None:
                expiry.cancel()
            batch.close()  # also when the scheduler's timeout cancels us mid-cycle
        return batch


async def open_probes(checks: Sequence[PingCheck], ctx: ProbeContext) -> dict[str, Collect]:
    """Open the shared ICMP sockets and return each check's one-cycle collector by name.

    Raises PingPermissionError (with the fix in its message) when this process may open
    neither an unprivileged datagram ICMP socket nor a raw one.
    """
    if not checks:
        return {}
    pool = TransportPool()
    ctx.exit_stack.callback(pool.close)
    for privileged in {check.privileged for check in checks}:
        for family in _FAMILIES:
            pool.prepare(family, privileged)
    collects: dict[str, Collect] = {check.name: PingProbe(check, pool, ctx).collect
                                    for check in checks}
    # Imported here so the path code (and scapy, which it loads on the first trace) stays
    # out of processes that only read ping checks from a config.
    from linkwatch.collector.path.probe import watch_paths

    return watch_paths(collects, checks, ctx)
