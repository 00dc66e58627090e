"""A traceroute toward one IPv4 or IPv6 address, on the event loop.

Probes go out TTL by TTL (IPv6: hop limit), `probes` at a time (ICMP echo requests, or UDP
datagrams to ports 33434 and up, as traceroute(8) sends them): the next TTL as soon as the
last one answered, or after `step_s` of silence. The trace stops sending at the first hop
that ends the path (the target, or a router saying "unreachable"), after five silent hops
in a row past the farthest one that answered, or at `max_hops`; answers are awaited up to
`timeout_s` after a probe left.

Routers limit the ICMP errors they send: Linux answers a host about once a second, and on
the kernels measured here (6.x) only when a second passed since the last packet from that
host that needed an answer, whether it got one or not. A burst of probes, or a ping check
toward the same target, leaves a broken router silent. So a trace sends few probes to
each router, and a hop left silent — up to where the path ended, or the first one past
the farthest hop that answered — is asked again, one probe at a time, `retry_spacing_s`
after the trace's last probe, at most `retries` times. A hop still silent between two that
answered does not move the break: collector/path/fields.py says "hop 2 silent, may
rate-limit ICMP".

IPv4 probes are built and answers dissected with scapy; one raw ICMP socket with
IP_HDRINCL sends them, so the kernel picks the route and the source address (scapy's own
routing table is read once at import and would go stale in a long-running agent). IPv6
probes are small enough to build by hand: ICMPv6 echo requests on a raw ICMPv6 socket (the
kernel fills in the checksum), or UDP datagrams from a socket of their own, each with its
hop limit; the answers come to the raw ICMPv6 socket. Either way a kernel filter lets
through only echo replies, time-exceeded and unreachable messages, never the host's other
traffic. Opening the raw sockets needs CAP_NET_RAW.

A probe the kernel refuses to send (ENETUNREACH: this host has no route toward the
target) is unanswered; when no probe could leave, the Trace says why (`unsent`).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import functools
import ipaddress
import math
import random
import socket
import struct
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import SimpleNamespace

from linkwatch.collector.path.check import TraceSettings

RAW_SOCKET_HINT = (
    "path probing needs a raw socket: run the agent with CAP_NET_RAW "
    "(AmbientCapabilities=CAP_NET_RAW in its systemd unit) — see docs/path.md#privileges"
)
SCAPY_HINT = "path probing needs scapy: pip install 'linkwatch[path]' (or scapy>=2.5)"

_ECHO_REPLY, _UNREACHABLE, _TIME_EXCEEDED = 0, 3, 11
_ECHO6_REQUEST, _ECHO6_REPLY, _UNREACHABLE6, _TIME_EXCEEDED6 = 128, 129, 1, 3
_SOL_RAW = 255
_ICMP_FILTER = 1                     # on raw ICMP sockets: bit n set = drop ICMP type n
_ICMP6_FILTER = 1                    # on raw ICMPv6 sockets: the same, 256 bits
_IPV6_HOPLIMIT = getattr(socket, "IPV6_HOPLIMIT", 52)
_UDP_BASE_PORT = 33434               # traceroute(8)'s first destination port
_SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
_CMSG_SPACE = socket.CMSG_SPACE(16)
_PAYLOAD = b"linkwatch-path".ljust(32, b"\0")
# Unreachable codes → traceroute(8)'s marks. Port unreachable from the target means a UDP
# probe arrived: the target is reached, so it has no mark.
_MARKS = {0: "!N", 1: "!H", 2: "!P", 3: "", 4: "!F", 5: "!S", 9: "!X", 10: "!X", 13: "!X"}
_MARKS6 = {0: "!N", 1: "!X", 2: "!S", 3: "!H", 4: "", 5: "!X", 6: "!X"}
_PORT_UNREACHABLE, _PORT_UNREACHABLE6 = 3, 4


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
    unsent: str | None = None        # why no probe could leave (no route), else None


def load_scapy() -> SimpleNamespace:
    """The scapy classes a trace uses (≈0.3 s on first call); raises TraceUnavailableError."""
    try:
        from scapy.layers.inet import ICMP, IP, UDP, ICMPerror, IPerror, UDPerror
    except ImportError as e:
        raise TraceUnavailableError(errno.ENOPKG, f"{SCAPY_HINT} ({e})") from e
    return SimpleNamespace(IP=IP, ICMP=ICMP, UDP=UDP, IPerror=IPerror, ICMPerror=ICMPerror,
                           UDPerror=UDPerror)


def open_trace_socket(family: int = socket.AF_INET) -> socket.socket:
    """A non-blocking raw socket that hears only the ICMP types a trace needs (IPv4: and
    sends whole IP packets); raises TraceUnavailableError without CAP_NET_RAW."""
    v6 = family == socket.AF_INET6
    try:
        sock = socket.socket(family, socket.SOCK_RAW,
                             socket.IPPROTO_ICMPV6 if v6 else socket.IPPROTO_ICMP)
    except PermissionError as e:
        raise TraceUnavailableError(e.errno, RAW_SOCKET_HINT) from e
    try:
        sock.setblocking(False)
        # Kernel receive times: the answers of early hops arrive while later probes are
        # still being sent, and must not be charged for that.
        sock.setsockopt(socket.SOL_SOCKET, _SO_TIMESTAMPNS, 1)
        if v6:
            blocked = [0xFFFFFFFF] * 8
            for kind in (_ECHO6_REPLY, _UNREACHABLE6, _TIME_EXCEEDED6):
                blocked[kind >> 5] &= ~(1 << (kind & 31))
            sock.setsockopt(socket.IPPROTO_ICMPV6, _ICMP6_FILTER, struct.pack("8I", *blocked))
        else:
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_HDRINCL, 1)
            wanted = (1 << _ECHO_REPLY) | (1 << _UNREACHABLE) | (1 << _TIME_EXCEEDED)
            sock.setsockopt(_SOL_RAW, _ICMP_FILTER, struct.pack("I", ~wanted & 0xFFFFFFFF))
    except BaseException:
        sock.close()
        raise
    return sock


def ip_literal(address: str) -> int | None:
    """The address family of an IP address literal (AF_INET or AF_INET6), else None."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return None
    return socket.AF_INET if ip.version == 4 else socket.AF_INET6


def _received_ns(ancillary: list[tuple[int, int, bytes]]) -> int:
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == _SO_TIMESTAMPNS and len(data) >= 16:
            seconds, nanoseconds = struct.unpack("qq", data[:16])
            return seconds * 1_000_000_000 + nanoseconds
    return time.time_ns()


@dataclass(slots=True)
class _Probe:
    ttl: int
    slot: int                        # which of the hop's answers it may fill
    sent_ns: int


class _Probes:
    """The probes of one trace, and the answers matched to them so far."""

    def __init__(self, address: str, settings: TraceSettings, ident: int) -> None:
        self.address = address
        self.settings = settings
        self.ident = ident & 0xFFFF
        self.sport = 0x8000 | (ident & 0x7FFF)
        self.answers: list[list[Reply | None]] = [
            [None] * settings.probes for _ in range(settings.max_hops)]
        self.sent: dict[int, _Probe] = {}     # probe index (echo seq, port offset) → probe
        self.next_index = 0
        self.end: int | None = None   # lowest TTL that got a final answer
        self.probed = 0               # highest TTL a probe went to
        self.changed = asyncio.Event()
        self.send_errors: list[OSError] = []

    def new_index(self, ttl: int, slot: int) -> int:
        index = self.next_index
        self.next_index += 1
        self.sent[index] = _Probe(ttl, slot, 0)
        return index

    def record(self, index: int | None, source: str, final: bool, mark: str,
               received_ns: int) -> None:
        """An answer from `source` to the probe `index` (None: not one of ours)."""
        if index is None:
            return
        probe = self.sent.get(index)
        if probe is None or not probe.sent_ns:
            return
        row = self.answers[probe.ttl - 1]
        slot = probe.slot if row[probe.slot] is None else next(
            (i for i, r in enumerate(row) if r is None), None)
        if slot is None:
            return
        row[slot] = Reply(source, round((received_ns - probe.sent_ns) / 1e6, 3), mark)
        del self.sent[index]
        if final:
            self.end = probe.ttl if self.end is None else min(self.end, probe.ttl)
        self.changed.set()

    def last(self) -> int:
        """The highest TTL that matters: where the path ended, else the highest probed."""
        return self.end if self.end is not None else max(self.probed, 1)

    def answered(self, ttl: int) -> bool:
        return any(self.answers[ttl - 1])

    def hop_ended(self, ttl: int) -> bool:
        """`ttl` has an answer, or the path has ended: the walk may go on."""
        return self.answered(ttl) or self.end is not None

    def farthest(self) -> int:
        """The highest TTL that got an answer (0: none did)."""
        return max((t for t in range(1, self.last() + 1) if self.answered(t)), default=0)

    def complete(self) -> bool:
        """Every probe up to where the path ended has its answer."""
        return all(r is not None for row in self.answers[: self.last()] for r in row)

    def silent(self) -> list[int]:
        """Hops worth asking again: silent ones up to where the path ended, or the first
        silent one past the farthest hop that answered."""
        limit = self.end if self.end is not None else min(self.farthest() + 1, self.last())
        return [ttl for ttl in range(1, limit + 1) if not self.answered(ttl)]

    def result(self) -> Trace:
        last = self.last()
        hops = tuple(Hop(ttl, tuple(self.answers[ttl - 1])) for ttl in range(1, last + 1))
        reached = self.end is not None and any(
            r is not None and r.address == self.address and r.mark == ""
            for r in hops[-1].replies)
        unsent = None
        if self.send_errors and not any(p.sent_ns for p in self.sent.values()) and \
                not any(any(row) for row in self.answers):
            unsent = _unsent_reason(self.address, self.send_errors[-1])
        return Trace(self.address, hops, reached, unsent)


def _unsent_reason(address: str, error: OSError) -> str:
    if error.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH):
        return f"this host has no route to {address} ({errno.errorcode[error.errno]})"
    return f"no probe toward {address} could be sent: {error.strerror or error}"


# ------------------------------------------------------------------------------- IPv4


class _Ipv4:
    """Probes built with scapy, sent with IP_HDRINCL on the raw socket that hears answers."""

    def __init__(self, probes: _Probes, scapy: SimpleNamespace) -> None:
        self.probes = probes
        self.scapy = scapy
        self.sock = open_trace_socket(socket.AF_INET)
        self.readers = [self.sock]

    def send(self, index: int, ttl: int) -> None:
        scapy, p = self.scapy, self.probes
        # Source 0.0.0.0: the kernel fills in the address of the route it picks. For the
        # same reason the UDP checksum is left out (0 = none, valid in IPv4): it covers the
        # source address, which is not known here.
        ip = scapy.IP(src="0.0.0.0", dst=p.address, ttl=ttl)
        if p.settings.protocol == "udp":
            layer = scapy.UDP(sport=p.sport, dport=_UDP_BASE_PORT + index, chksum=0)
        else:
            layer = scapy.ICMP(type=8, id=p.ident, seq=index)
        self.sock.sendto(bytes(ip / layer / _PAYLOAD), (p.address, 0))

    def read(self, sock: socket.socket, data: bytes, _source: str, received_ns: int) -> None:
        scapy, p = self.scapy, self.probes
        try:
            packet = scapy.IP(data)
        except Exception:  # scapy raises assorted errors on truncated packets: not ours
            return
        icmp = packet.getlayer(scapy.ICMP)
        if icmp is None:
            return
        index = self._index(packet, icmp)
        final = icmp.type in (_ECHO_REPLY, _UNREACHABLE)
        mark = _MARKS.get(icmp.code, f"!<{icmp.code}>") if icmp.type == _UNREACHABLE else ""
        if mark == "" and icmp.type == _UNREACHABLE and packet.src != p.address:
            mark = "!P"  # port unreachable from a router, not the target: a filter
        p.record(index, packet.src, final, mark, received_ns)

    def _index(self, packet, icmp) -> int | None:
        scapy, p = self.scapy, self.probes
        if icmp.type == _ECHO_REPLY:
            if p.settings.protocol != "icmp" or packet.src != p.address:
                return None
            return icmp.seq if icmp.id == p.ident else None
        quoted = packet.getlayer(scapy.IPerror)
        if quoted is None or quoted.dst != p.address:
            return None
        if p.settings.protocol == "icmp":
            inner = quoted.getlayer(scapy.ICMPerror)
            if inner is None or inner.type != 8 or inner.id != p.ident:
                return None
            return inner.seq
        inner = quoted.getlayer(scapy.UDPerror)
        if inner is None or inner.sport != p.sport:
            return None
        return inner.dport - _UDP_BASE_PORT

    def close(self) -> None:
        self.sock.close()


# ------------------------------------------------------------------------------- IPv6


class _Ipv6:
    """ICMPv6 echo requests (or UDP datagrams) with a hop limit per packet; the answers on a
    raw ICMPv6 socket. An ICMPv6 error quotes the probe after its 8-byte header: the IPv6
    header (40 bytes, next header at 6, destination at 24) and the probe's first bytes."""

    def __init__(self, probes: _Probes) -> None:
        self.probes = probes
        self.sock = open_trace_socket(socket.AF_INET6)
        self.readers = [self.sock]
        self.udp: socket.socket | None = None
        if probes.settings.protocol == "udp":
            try:
                self.udp = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
                self.udp.setblocking(False)
                self.udp.bind(("::", probes.sport))
            except OSError:
                self.close()
                raise
        self.destination = socket.inet_pton(socket.AF_INET6, probes.address)

    def send(self, index: int, ttl: int) -> None:
        p = self.probes
        hops = [(socket.IPPROTO_IPV6, _IPV6_HOPLIMIT, struct.pack("i", ttl))]
        if self.udp is not None:
            self.udp.sendmsg([_PAYLOAD], hops, 0, (p.address, _UDP_BASE_PORT + index))
            return
        echo = struct.pack("!BBHHH", _ECHO6_REQUEST, 0, 0, p.ident, index) + _PAYLOAD
        self.sock.sendmsg([echo], hops, 0, (p.address, 0))

    def read(self, _sock: socket.socket, data: bytes, source: str, received_ns: int) -> None:
        p = self.probes
        if len(data) < 8:
            return
        kind, code = data[0], data[1]
        if kind == _ECHO6_REPLY:
            ident, seq = struct.unpack("!HH", data[4:8])
            if p.settings.protocol == "icmp" and source == p.address and ident == p.ident:
                p.record(seq, source, True, "", received_ns)
            return
        quoted = data[8:]
        if len(quoted) < 48 or quoted[24:40] != self.destination:
            return
        index = self._index(quoted[6], quoted[40:48])
        if kind == _UNREACHABLE6:
            mark = _MARKS6.get(code, f"!<{code}>")
            if code == _PORT_UNREACHABLE6 and source != p.address:
                mark = "!P"
            p.record(index, source, True, mark, received_ns)
        elif kind == _TIME_EXCEEDED6:
            p.record(index, source, False, "", received_ns)

    def _index(self, next_header: int, head: bytes) -> int | None:
        p = self.probes
        if p.settings.protocol == "icmp":
            kind, _code, _sum, ident, seq = struct.unpack("!BBHHH", head)
            return seq if next_header == socket.IPPROTO_ICMPV6 and kind == _ECHO6_REQUEST \
                and ident == p.ident else None
        sport, dport = struct.unpack("!HH", head[:4])
        return dport - _UDP_BASE_PORT if next_header == socket.IPPROTO_UDP and \
            sport == p.sport else None

    def close(self) -> None:
        self.sock.close()
        if self.udp is not None:
            self.udp.close()


# ------------------------------------------------------------------------------ a trace


@contextlib.contextmanager
def _listening(loop: asyncio.AbstractEventLoop, family: _Ipv4 | _Ipv6) -> Iterator[None]:
    def readable(sock: socket.socket) -> None:
        while True:
            try:
                data, ancillary, _flags, source = sock.recvmsg(65535, _CMSG_SPACE)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return  # e.g. an ICMP error queued on the socket itself: not an answer
            family.read(sock, data, source[0], _received_ns(ancillary))

    for sock in family.readers:
        loop.add_reader(sock.fileno(), readable, sock)
    try:
        yield
    finally:
        for sock in family.readers:
            loop.remove_reader(sock.fileno())
        family.close()


async def traceroute(address: str, settings: TraceSettings, *, ident: int,
                     scapy: SimpleNamespace | None = None,
                     others: Callable[[], float | None] | None = None) -> Trace:
    """Trace toward the IPv4 or IPv6 `address`; `ident` tells this trace's answers from
    others'. `others()`, when given, says when something else of this process last sent
    toward `address` (the event loop's clock): a retry waits for that too.

    Raises TraceUnavailableError when the process may not open a raw socket (or, for IPv4,
    lacks scapy), ValueError for something that is not an IP address. A path that ends
    early is a Trace with `reached=False`, never an exception.
    """
    family = ip_literal(address)
    if family is None:
        raise ValueError(f"path probing traces IP addresses, got {address!r}")
    address = str(ipaddress.ip_address(address))
    probes = _Probes(address, settings, ident)
    if family == socket.AF_INET:
        if scapy is None:
            scapy = await asyncio.to_thread(load_scapy)
        sender: _Ipv4 | _Ipv6 = _Ipv4(probes, scapy)
    else:
        sender = _Ipv6(probes)
    loop = asyncio.get_running_loop()
    clock = loop.time
    with _listening(loop, sender):
        # an echo that just left toward the target has used up a broken router's answer
        # for a while: start after that
        while others and (wait := (others() or -math.inf) + settings.echo_quiet_s
                          - clock()) > 0:
            await asyncio.sleep(wait)
        last_sent = await _walk(sender, probes, clock)
        if last_sent is not None:
            await _answers(probes, settings.timeout_s - (clock() - last_sent), clock,
                           until=probes.complete)
            # a random part in the spacing, so two traces toward one router (the agent's
            # and one by hand) do not keep silencing each other's probes
            jitter = random.Random(ident)
            for _ in range(settings.retries):
                silent = probes.silent()
                if not silent:
                    break
                spacing = settings.retry_spacing_s * (1 + jitter.random() / 2)
                while (wait := max(last_sent + spacing,
                                   ((others() if others else None) or -math.inf)
                                   + settings.echo_quiet_s) - clock()) > 0:
                    await asyncio.sleep(wait)             # an echo may leave meanwhile
                asked = silent[0]
                _send(sender, probes, asked, probes.answers[asked - 1].index(None))
                last_sent = clock()
                await _answers(probes, settings.retry_spacing_s, clock,
                               until=functools.partial(probes.answered, asked))
    return probes.result()


_SILENT_RUN = 5      # silent hops in a row, past the farthest that answered, end the walk


async def _walk(sender: _Ipv4 | _Ipv6, probes: _Probes, clock: Callable[[], float]
                ) -> float | None:
    """Probe TTL after TTL until the path ends; when the last probe left (None: none)."""
    settings = probes.settings
    last_sent = None
    for ttl in range(1, settings.max_hops + 1):
        if probes.end is not None and ttl > probes.end:
            break
        if ttl - probes.farthest() > _SILENT_RUN:
            break
        for slot in range(settings.probes):
            if _send(sender, probes, ttl, slot):
                last_sent = clock()
        probes.probed = ttl
        if last_sent is None:
            continue
        await _answers(probes, settings.step_s, clock,
                       until=functools.partial(probes.hop_ended, ttl))
    return last_sent


def _send(sender: _Ipv4 | _Ipv6, probes: _Probes, ttl: int, slot: int) -> bool:
    """Send one probe; False when the kernel refused it."""
    index = probes.new_index(ttl, slot)
    probes.sent[index].sent_ns = time.time_ns()
    try:
        sender.send(index, ttl)
    except OSError as e:
        # No route from this host (its own link is down), or a full send buffer: this
        # probe is lost; the trace shows it unanswered.
        probes.send_errors.append(e)
        del probes.sent[index]
        return False
    return True


async def _answers(probes: _Probes, seconds: float, clock: Callable[[], float], *,
                   until: Callable[[], bool]) -> None:
    """Wait `seconds` for answers, or less once `until()` holds."""
    deadline = clock() + seconds
    while not until():
        left = deadline - clock()
        if left <= 0:
            return
        probes.changed.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(probes.changed.wait(), left)
