"""The ping probe: one cycle of ICMP echoes per check, all checks sharing a few sockets."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from collections.abc import Sequence
from dataclasses import dataclass

from linkwatch.collector.blocking import in_daemon_thread
from linkwatch.collector.ping.check import PingCheck
from linkwatch.collector.ping.hold import EchoHold
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


# A name lookup may take at most this share of what a cycle leaves beside its echoes, and
# never more than MAX_LOOKUP_S: a dead DNS server must cost a sample its reason (up=0),
# never the sample itself, and never hold up the agent's exit.
_LOOKUP_SHARE = 0.8
MAX_LOOKUP_S = 10.0


async def _resolve(address: str, timeout_s: float) -> _Target:
    """The address to probe this cycle; raises OSError (socket.gaierror, or a lookup that
    took longer than `timeout_s`) when it has none."""
    target = _literal(address)
    if target is not None:
        return target  # no resolver round trip (and no thread) for literals
    # In a daemon thread, not the loop's executor: a lookup stuck on a dead DNS server is
    # abandoned at the timeout and never delays the agent's exit.
    lookup = in_daemon_thread(socket.getaddrinfo, address, None, 0, socket.SOCK_DGRAM,
                              name="linkwatch-resolve")
    try:
        infos = await asyncio.wait_for(lookup, timeout_s)
    except TimeoutError:
        raise OSError(f"no answer from the name resolver within {timeout_s:.2g}s "
                      "(check /etc/resolv.conf and the DNS server)") from None
    for family, _type, _proto, _canonname, sockaddr in infos:
        if family in _FAMILIES:
            return _Target(socket.AddressFamily(family), str(sockaddr[0]), sockaddr)
    raise OSError(f"no IPv4 or IPv6 address for {address!r}")


class PingProbe:
    """The cycles of one check; remembers the last state so it logs only changes."""

    def __init__(self, check: PingCheck, pool: TransportPool, ctx: ProbeContext,
                 hold: EchoHold | None = None) -> None:
        self.check = check
        self.schedule = EchoSchedule.for_check(check)
        self._pool = pool
        self._ctx = ctx
        self._hold = hold or EchoHold()
        self._held_last = False    # the last cycle's echoes were all held: it had no sample
        limit = float(check.timeout if check.timeout is not None else check.interval)
        self._lookup_s = min(MAX_LOOKUP_S,
                             _LOOKUP_SHARE * max(limit - self.schedule.duration_s, 0.05))
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
            target = await _resolve(self.check.address, self._lookup_s)
        except OSError as exc:
            self._note("unresolved", f"cannot resolve {self.check.address!r}: {exc}")
            return [self._sample(time_ns, self.check.address, sent=0, rtts_ms=[])]
        try:
            transport = self._pool.transport(target.family, self.check.privileged)
        except OSError as exc:
            self._note("no-socket", f"cannot ping {target.address}: {exc}")
            return [self._sample(time_ns, target.address, sent=0, rtts_ms=[])]

        batch = await self._echo(transport, target)
        sent = self.schedule.count - batch.held
        self._held_last = not sent
        if not sent:
            # every echo held back for a trace toward the target: nothing was measured this
            # cycle (UNKNOWN time), rather than a made-up loss; the next cycle always sends
            return []
        rtts_ms = [rtt / 1e6 for rtt in batch.rtts_ns if rtt is not None]
        if rtts_ms:
            self._note("up", f"{target.address} answers again")
        elif batch.errors:
            self._note("send-error", f"sending to {target.address} failed: {batch.errors[-1]}")
        else:
            self._note("down", f"no reply from {target.address} to {self.schedule.count} echoes")
        return [self._sample(time_ns, target.address, sent=sent, rtts_ms=rtts_ms)]

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
                if self._hold.held(target.address):
                    # a trace toward the target runs: wait for it while the cycle can, and
                    # past that hold the echo back, but never two cycles in a row (one
                    # missed sample is no gap in the data: docs/cli.md, "Data gap")
                    latest = start + index * schedule.spacing_s + schedule.slack_s
                    free = await self._hold.until_free(target.address, latest - loop.time())
                    if not free and not self._held_last:
                        batch.held += 1
                        continue
                self._hold.echoed(target.address, loop.time())
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
    hold = EchoHold()
    collects: dict[str, Collect] = {check.name: PingProbe(check, pool, ctx, hold).collect
                                    for check in checks}
    # Imported here so the path code (and scapy, which it loads on the first trace) stays
    # out of processes that only read ping checks from a config.
    from linkwatch.collector.path.probe import watch_paths

    return watch_paths(collects, checks, ctx, hold=hold)
