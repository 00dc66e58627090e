"""One shared ICMP socket per address family and mode, and the echoes in flight on it.

Every check sends on the same socket; replies are matched back to their echo by
(address, identifier, sequence). The identifier is fixed per socket: chosen at random for
a raw socket, and for a datagram ICMP socket the kernel overwrites it with the socket's
local port (and delivers only replies carrying it), so we read it back after binding.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import struct
import time
from collections import deque
from dataclasses import dataclass

from linkwatch.collector.ping.packet import (
    ICMP_ECHO_REPLY,
    ICMP_ECHO_REQUEST,
    ICMPV6_ECHO_REPLY,
    ICMPV6_ECHO_REQUEST,
    TOKEN_SIZE,
    EchoTemplate,
    parse_echo_reply,
)
from linkwatch.collector.ping.sockets import (
    SCM_TIMESTAMPNS,
    FamilyUnavailableError,
    SocketMode,
    open_icmp_socket,
    permission_error,
)

log = logging.getLogger("linkwatch.ping")

_RECV_SIZE = 2048
_ANCILLARY_SIZE = socket.CMSG_SPACE(16)  # one struct timespec
_TIMESPEC = struct.Struct("@qq")
_READS_PER_WAKEUP = 512  # then give other callbacks a turn; the reader is called again


class EchoBatch:
    """The echoes of one cycle of one check; `done` resolves when all are answered or expired."""

    def __init__(self, count: int, wait_ns: int, loop: asyncio.AbstractEventLoop) -> None:
        self.rtts_ns: list[int | None] = [None] * count
        self.errors: list[OSError] = []
        self.held = 0                 # echoes not sent: held back while a trace ran
        self.done: asyncio.Future[None] = loop.create_future()
        self.closed = False
        self._wait_ns = wait_ns
        self._outstanding = 0
        self._all_sent = False
        self._keys: list[tuple[EchoTransport, tuple[str, int]]] = []

    def _settle(self) -> None:
        if self._all_sent and self._outstanding == 0 and not self.done.done():
            self.done.set_result(None)

    def sent(self, transport: EchoTransport, key: tuple[str, int]) -> None:
        self._outstanding += 1
        self._keys.append((transport, key))

    def replied(self, index: int, rtt_ns: int) -> None:
        if rtt_ns <= self._wait_ns:  # a late reply counts as lost, as ping -W would
            self.rtts_ns[index] = rtt_ns
        self._outstanding -= 1
        self._settle()

    def refused(self, error: OSError) -> None:
        """An echo the kernel would not send: it counts as lost."""
        self.errors.append(error)

    def failed(self, error: OSError) -> None:
        """A queued echo the kernel refused once the socket had room."""
        self.errors.append(error)
        self._outstanding -= 1
        self._settle()

    def all_sent(self) -> None:
        self._all_sent = True
        self._settle()

    def expire(self) -> None:
        if not self.done.done():
            self.done.set_result(None)

    def close(self) -> None:
        """Forget the echoes still unanswered, so a late reply finds nothing to update."""
        self.closed = True
        for transport, key in self._keys:
            transport.forget(key)
        self._keys.clear()


@dataclass(slots=True)
class _Echo:
    batch: EchoBatch
    index: int
    sent_real_ns: int = 0
    sent_mono_ns: int = 0


@dataclass(slots=True)
class _Queued:
    echo: _Echo
    key: tuple[str, int]
    packet: bytes
    sockaddr: tuple


class EchoTransport:
    """An ICMP socket registered with the event loop, demultiplexing replies to echoes."""

    def __init__(self, sock: socket.socket, family: socket.AddressFamily, mode: SocketMode) -> None:
        self._loop = asyncio.get_running_loop()
        self._sock = sock
        self.family = family
        self.mode = mode
        self._token = os.urandom(TOKEN_SIZE)
        if mode is SocketMode.DATAGRAM:
            self.identifier = sock.getsockname()[1]
        else:
            self.identifier = int.from_bytes(os.urandom(2), "big")
        v4 = family == socket.AF_INET
        self._reply_type = ICMP_ECHO_REPLY if v4 else ICMPV6_ECHO_REPLY
        self._ip_header = v4 and mode is SocketMode.RAW
        self._template = EchoTemplate(
            request_type=ICMP_ECHO_REQUEST if v4 else ICMPV6_ECHO_REQUEST,
            token=self._token,
            # The kernel sums ICMPv6 itself, and datagram ICMP sockets rewrite the header.
            fill_checksum=self._ip_header,
        )
        self._pending: dict[tuple[str, int], _Echo] = {}
        self._sequence = int.from_bytes(os.urandom(2), "big")
        self._backlog: deque[_Queued] = deque()
        self._loop.add_reader(sock.fileno(), self._on_readable)

    def close(self) -> None:
        fd = self._sock.fileno()
        if fd >= 0:
            self._loop.remove_reader(fd)
            self._loop.remove_writer(fd)
        self._sock.close()

    def forget(self, key: tuple[str, int]) -> None:
        self._pending.pop(key, None)

    def _next_key(self, address: str) -> tuple[str, int]:
        while True:
            self._sequence = (self._sequence + 1) & 0xFFFF
            key = (address, self._sequence)
            if key not in self._pending:
                return key

    def send(self, address: str, sockaddr: tuple, batch: EchoBatch, index: int) -> None:
        """Send echo `index` of `batch` to `sockaddr` now, or as soon as the socket has room.

        Raises OSError when the kernel refuses it (e.g. no route to the address).
        """
        key = self._next_key(address)
        echo = _Echo(batch, index)
        packet = self._template.build(self.identifier, key[1])
        if self._backlog:
            self._backlog.append(_Queued(echo, key, packet, sockaddr))
        else:
            try:
                self._transmit(echo, packet, sockaddr)
            except BlockingIOError:
                # The send buffer is full (hundreds of echoes at once): queue in order.
                self._backlog.append(_Queued(echo, key, packet, sockaddr))
                self._loop.add_writer(self._sock.fileno(), self._flush)
        self._pending[key] = echo
        batch.sent(self, key)

    def _transmit(self, echo: _Echo, packet: bytes, sockaddr: tuple) -> None:
        echo.sent_real_ns = time.time_ns()
        echo.sent_mono_ns = time.monotonic_ns()
        self._sock.sendto(packet, sockaddr)

    def _flush(self) -> None:
        while self._backlog:
            item = self._backlog[0]
            if item.echo.batch.closed:
                self._backlog.popleft()
                continue
            try:
                self._transmit(item.echo, item.packet, item.sockaddr)
            except BlockingIOError:
                return
            except OSError as exc:
                self._pending.pop(item.key, None)
                item.echo.batch.failed(exc)
            self._backlog.popleft()
        self._loop.remove_writer(self._sock.fileno())

    def _on_readable(self) -> None:
        sock = self._sock
        for _ in range(_READS_PER_WAKEUP):
            try:
                data, ancillary, _flags, source = sock.recvmsg(_RECV_SIZE, _ANCILLARY_SIZE)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                # Datagram ICMP sockets report an ICMP error (unreachable, ...) once as a
                # socket error; the echo it concerns simply stays unanswered.
                log.debug("ping socket error ignored: %s", exc)
                continue
            now_mono = time.monotonic_ns()
            reply = parse_echo_reply(data, reply_type=self._reply_type, ip_header=self._ip_header)
            if reply is None or reply.identifier != self.identifier or reply.token != self._token:
                continue
            echo = self._pending.pop((source[0], reply.sequence), None)
            if echo is None:
                continue  # a duplicate, or the reply to an echo whose cycle has ended
            rtt = now_mono - echo.sent_mono_ns
            for level, kind, value in ancillary:
                if level == socket.SOL_SOCKET and kind == SCM_TIMESTAMPNS:
                    seconds, nanoseconds = _TIMESPEC.unpack_from(value)
                    kernel_rtt = seconds * 1_000_000_000 + nanoseconds - echo.sent_real_ns
                    # The wall clock may have been stepped; then trust the monotonic figure.
                    if 0 <= kernel_rtt <= rtt:
                        rtt = kernel_rtt
            echo.batch.replied(echo.index, rtt)


class TransportPool:
    """The shared transports, opened once per (family, mode) and closed together."""

    def __init__(self) -> None:
        self._transports: dict[tuple[socket.AddressFamily, SocketMode], EchoTransport] = {}
        self._chosen: dict[tuple[socket.AddressFamily, bool | None], EchoTransport] = {}
        self._unavailable: dict[socket.AddressFamily, FamilyUnavailableError] = {}

    def _open(self, family: socket.AddressFamily, mode: SocketMode) -> EchoTransport:
        transport = self._transports.get((family, mode))
        if transport is None:
            transport = EchoTransport(open_icmp_socket(family, mode), family, mode)
            self._transports[(family, mode)] = transport
            log.debug("ping: opened %s socket for %s", mode.value, family.name)
        return transport

    def prepare(self, family: socket.AddressFamily, privileged: bool | None) -> None:
        """Open the socket checks with this `privileged` setting will use for `family`.

        Datagram sockets are preferred when `privileged` is None. Raises
        PingPermissionError (naming the fix) when the process may open neither kind.
        A family the host lacks is remembered and reported per cycle instead.
        """
        if (family, privileged) in self._chosen or family in self._unavailable:
            return
        modes = {
            None: (SocketMode.DATAGRAM, SocketMode.RAW),
            False: (SocketMode.DATAGRAM,),
            True: (SocketMode.RAW,),
        }[privileged]
        for mode in modes:
            try:
                self._chosen[(family, privileged)] = self._open(family, mode)
                return
            except FamilyUnavailableError as exc:
                self._unavailable[family] = exc
                return
            except PermissionError:
                continue
        mode_tried = None if privileged is None else modes[0]
        raise permission_error(family, mode_tried)

    def transport(self, family: socket.AddressFamily, privileged: bool | None) -> EchoTransport:
        """The transport prepared for (family, privileged); FamilyUnavailableError if none."""
        transport = self._chosen.get((family, privileged))
        if transport is None:
            raise self._unavailable.get(family) or FamilyUnavailableError(
                f"no ICMP socket for {family.name}"
            )
        return transport

    def close(self) -> None:
        for transport in self._transports.values():
            with contextlib.suppress(OSError):
                transport.close()
        self._transports.clear()
        self._chosen.clear()
