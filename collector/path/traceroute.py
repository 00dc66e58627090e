"""A traceroute toward one IPv4 address, on the event loop: every probe sent at once.

Each TTL from 1 to `max_hops` gets `probes` probes (ICMP echo requests, or UDP datagrams to
ports 33434 and up, as traceroute(8) sends them). All of them leave in one burst, TTL by
TTL, so a trace takes about `timeout_s` whatever the path length, and it stops early once
every probe up to where the path ended has its answer.

Packets are built and answers dissected with scapy; sending and receiving use one raw ICMP
socket with IP_HDRINCL, so the kernel picks the route and the source address (scapy's own
routing table is read once at import and would go stale in a long-running agent), and the
socket sees only ICMP echo replies, time-exceeded and unreachable messages, never the
host's other traffic. Opening it needs CAP_NET_RAW.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import ipaddress
import socket
import struct
import time
from dataclasses import dataclass
from types import SimpleNamespace

from linkwatch.collector.path.check import TraceSettings

RAW_SOCKET_HINT = (
    "path probing needs a raw socket: run the agent with CAP_NET_RAW "
    "(AmbientCapabilities=CAP_NET_RAW in its systemd unit) — see docs/path.md#privileges"
)
SCAPY_HINT = "path probing needs scapy: pip install 'linkwatch[path]' (or scapy>=2.5)"

_ECHO_REPLY, _UNREACHABLE, _TIME_EXCEEDED = 0, 3, 11
_SOL_RAW = 255
_ICMP_FILTER = 1                     # on raw ICMP sockets: bit n set = drop ICMP type n
_UDP_BASE_PORT = 33434               # traceroute(8)'s first destination port
_SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
_CMSG_SPACE = socket.CMSG_SPACE(16)
_PAYLOAD = b"linkwatch-path".ljust(32, b"\0")
# Unreachable codes → traceroute(8)'s marks. Port unreachable (3) from the target means a
# UDP probe arrived: the target is reached, so it has no mark.
_MARKS = {0: "!N", 1: "!H", 2: "!P", 3: "", 4: "!F", 5: "!S", 9: "!X", 10: "!X", 13: "!X"}


class TraceUnavailableError(OSError):
    """This process cannot trace (no raw socket, no scapy); the message names the fix."""


@dataclass(frozen=True, slots=True)
class Reply:
    """One probe's answer: who sent it, after how long, and traceroute's mark if any."""

    address: str
    rtt_ms: float
    mark: str = ""                   # "!N", "!H", "!X", ...: an unreachable answer


@dataclass(frozen=True, slots=True)
class Hop:
    number: int                      # the probes' TTL
    replies: tuple[Reply | None, ...]  # per probe in send order; None: no answer in time

    @property
    def answered(self) -> bool:
        return any(r is not None for r in self.replies)


@dataclass(frozen=True, slots=True)
class Trace:
    """Where the probes went: hops up to where the path ended, or up to `max_hops`."""

    address: str
    hops: tuple[Hop, ...]
    reached: bool


def load_scapy() -> SimpleNamespace:
    """The scapy classes a trace uses (≈0.3 s on first call); raises TraceUnavailableError."""
    try:
        from scapy.layers.inet import ICMP, IP, UDP, ICMPerror, IPerror, UDPerror
    except ImportError as e:
        raise TraceUnavailableError(errno.ENOPKG, f"{SCAPY_HINT} ({e})") from e
    return SimpleNamespace(IP=IP, ICMP=ICMP, UDP=UDP, IPerror=IPerror, ICMPerror=ICMPerror,
                           UDPerror=UDPerror)


def open_trace_socket() -> socket.socket:
    """A non-blocking raw ICMP socket that sends whole IP packets and hears only the ICMP
    types a trace needs; raises TraceUnavailableError without CAP_NET_RAW."""
    try:
        sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    except PermissionError as e:
        raise TraceUnavailableError(e.errno, RAW_SOCKET_HINT) from e
    try:
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_HDRINCL, 1)
        # Kernel receive times: the answers of early hops arrive while later probes are
        # still being sent, and must not be charged for that.
        sock.setsockopt(socket.SOL_SOCKET, _SO_TIMESTAMPNS, 1)
        wanted = (1 << _ECHO_REPLY) | (1 << _UNREACHABLE) | (1 << _TIME_EXCEEDED)
        sock.setsockopt(_SOL_RAW, _ICMP_FILTER, struct.pack("I", ~wanted & 0xFFFFFFFF))
    except BaseException:
        sock.close()
        raise
    return sock


def ipv4_literal(address: str) -> str | None:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return None
    return str(ip) if ip.version == 4 else None


def _received_ns(ancillary: list[tuple[int, int, bytes]]) -> int:
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == _SO_TIMESTAMPNS and len(data) >= 16:
            seconds, nanoseconds = struct.unpack("qq", data[:16])
            return seconds * 1_000_000_000 + nanoseconds
    return time.time_ns()


class _Probes:
    """The probes of one trace, and the answers matched to them so far."""

    def __init__(self, address: str, settings: TraceSettings, ident: int) -> None:
        self.address = address
        self.settings = settings
        self.ident = ident & 0xFFFF
        self.sport = 0x8000 | (ident & 0x7FFF)
        count = settings.max_hops * settings.probes
        self.sent_ns: list[int | None] = [None] * count
        self.replies: list[Reply | None] = [None] * count
        self.end: int | None = None   # lowest TTL that got a final answer
        self.complete = asyncio.Event()

    def ttl(self, index: int) -> int:
        return index // self.settings.probes + 1

    def packet(self, scapy: SimpleNamespace, index: int) -> bytes:
        # Source 0.0.0.0: the kernel fills in the address of the route it picks. For the
        # same reason the UDP checksum is left out (0 = none, valid in IPv4): it covers the
        # source address, which is not known here.
        ip = scapy.IP(src="0.0.0.0", dst=self.address, ttl=self.ttl(index))
        if self.settings.protocol == "udp":
            layer = scapy.UDP(sport=self.sport, dport=_UDP_BASE_PORT + index, chksum=0)
        else:
            layer = scapy.ICMP(type=8, id=self.ident, seq=index)
        return bytes(ip / layer / _PAYLOAD)

    def match(self, scapy: SimpleNamespace, data: bytes, received_ns: int) -> None:
        """Record `data` (an IP packet from the raw socket) if it answers one of our probes."""
        try:
            packet = scapy.IP(data)
        except Exception:  # scapy raises assorted errors on truncated packets: not ours
            return
        icmp = packet.getlayer(scapy.ICMP)
        if icmp is None:
            return
        index = self._index(scapy, packet, icmp)
        if index is None or not 0 <= index < len(self.replies) or self.replies[index]:
            return
        sent = self.sent_ns[index]
        if sent is None:
            return
        final = icmp.type == _ECHO_REPLY or icmp.type == _UNREACHABLE
        mark = _MARKS.get(icmp.code, f"!<{icmp.code}>") if icmp.type == _UNREACHABLE else ""
        if mark == "" and icmp.type == _UNREACHABLE and packet.src != self.address:
            mark = "!P"  # port unreachable from a router, not the target: a filter
        rtt_ms = round((received_ns - sent) / 1e6, 3)
        self.replies[index] = Reply(packet.src, rtt_ms, mark)
        if final:
            ttl = self.ttl(index)
            self.end = ttl if self.end is None else min(self.end, ttl)
        if self._answered_up_to_end():
            self.complete.set()

    def _index(self, scapy: SimpleNamespace, packet, icmp) -> int | None:
        if icmp.type == _ECHO_REPLY:
            if self.settings.protocol != "icmp" or packet.src != self.address:
                return None
            return icmp.seq if icmp.id == self.ident else None
        quoted = packet.getlayer(scapy.IPerror)
        if quoted is None or quoted.dst != self.address:
            return None
        if self.settings.protocol == "icmp":
            inner = quoted.getlayer(scapy.ICMPerror)
            if inner is None or inner.type != 8 or inner.id != self.ident:
                return None
            return inner.seq
        inner = quoted.getlayer(scapy.UDPerror)
        if inner is None or inner.sport != self.sport:
            return None
        return inner.dport - _UDP_BASE_PORT

    def _answered_up_to_end(self) -> bool:
        last = self.end if self.end is not None else self.settings.max_hops
        return all(r is not None for r in self.replies[: last * self.settings.probes])

    def result(self) -> Trace:
        probes = self.settings.probes
        last = self.end if self.end is not None else self.settings.max_hops
        hops = tuple(
            Hop(ttl, tuple(self.replies[(ttl - 1) * probes: ttl * probes]))
            for ttl in range(1, last + 1)
        )
        reached = any(
            r is not None and r.address == self.address and r.mark == ""
            for r in (hops[-1].replies if hops and self.end is not None else ())
        )
        return Trace(self.address, hops, reached)


async def traceroute(address: str, settings: TraceSettings, *, ident: int,
                     scapy: SimpleNamespace | None = None) -> Trace:
    """Trace toward the IPv4 `address`; `ident` tells this trace's answers from others'.

    Raises TraceUnavailableError when the process may not open a raw socket or lacks
    scapy, ValueError for an address that is not IPv4. A path that ends early is a Trace
    with `reached=False`, never an exception.
    """
    if ipv4_literal(address) is None:
        raise ValueError(f"path probing traces IPv4 addresses only, got {address!r}")
    if scapy is None:
        scapy = await asyncio.to_thread(load_scapy)
    loop = asyncio.get_running_loop()
    probes = _Probes(address, settings, ident)
    sock = open_trace_socket()

    def readable() -> None:
        while True:
            try:
                data, ancillary, _flags, _addr = sock.recvmsg(65535, _CMSG_SPACE)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return  # e.g. an ICMP error queued on the socket itself: not an answer
            probes.match(scapy, data, _received_ns(ancillary))

    loop.add_reader(sock.fileno(), readable)
    try:
        packets = [probes.packet(scapy, i) for i in range(len(probes.replies))]
        for index, packet in enumerate(packets):
            probes.sent_ns[index] = time.time_ns()
            try:
                sock.sendto(packet, (address, 0))
            except OSError:
                # No route from this host (its own link is down), or a full send buffer:
                # this probe is lost; the trace shows it unanswered.
                probes.sent_ns[index] = None
        if any(sent is not None for sent in probes.sent_ns):
            # the hops that did not answer in time stay unanswered
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(probes.complete.wait(), settings.timeout_s)
    finally:
        loop.remove_reader(sock.fileno())
        sock.close()
    return probes.result()
