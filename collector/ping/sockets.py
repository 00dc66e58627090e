"""Opening ICMP sockets: unprivileged datagram sockets where allowed, raw sockets otherwise."""

from __future__ import annotations

import enum
import errno
import socket
import struct

from linkwatch.collector.ping.packet import ICMP_ECHO_REPLY, ICMPV6_ECHO_REPLY

FIX_HINT = (
    "allow unprivileged ICMP: sysctl net.ipv4.ping_group_range='0 2147483647', "
    "or grant CAP_NET_RAW — see docs/operations.md#ping"
)

# Linux socket options the socket module does not name.
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
SCM_TIMESTAMPNS = SO_TIMESTAMPNS
_SOL_RAW = 255
_ICMP_FILTER = 1  # on raw IPv4 ICMP sockets: bit n set = drop ICMP type n
_ICMP6_FILTER = 1  # on raw ICMPv6 sockets: struct icmp6_filter, bit n set = drop type n

_RECEIVE_BUFFER = 1 << 20  # room for the replies of hundreds of targets arriving at once


class SocketMode(enum.Enum):
    DATAGRAM = "datagram"  # SOCK_DGRAM + IPPROTO_ICMP: needs the gid in ping_group_range
    RAW = "raw"  # SOCK_RAW: needs CAP_NET_RAW


class PingPermissionError(PermissionError):
    """Neither kind of ICMP socket may be opened by this process."""


class FamilyUnavailableError(OSError):
    """The host has no support for this address family (e.g. IPv6 disabled)."""


def _protocol(family: socket.AddressFamily) -> int:
    return socket.IPPROTO_ICMP if family == socket.AF_INET else socket.IPPROTO_ICMPV6


def _family_name(family: socket.AddressFamily) -> str:
    return "IPv4" if family == socket.AF_INET else "IPv6"


def _only_echo_replies(sock: socket.socket, family: socket.AddressFamily) -> None:
    # A raw socket sees every ICMP message the host receives, including the echo requests
    # we send to ourselves on loopback; the kernel drops the rest before waking us.
    if family == socket.AF_INET:
        sock.setsockopt(
            _SOL_RAW, _ICMP_FILTER, struct.pack("I", ~(1 << ICMP_ECHO_REPLY) & 0xFFFFFFFF)
        )
    else:
        words = [0xFFFFFFFF] * 8
        words[ICMPV6_ECHO_REPLY >> 5] &= ~(1 << (ICMPV6_ECHO_REPLY & 31)) & 0xFFFFFFFF
        sock.setsockopt(socket.IPPROTO_ICMPV6, _ICMP6_FILTER, struct.pack("8I", *words))


def open_icmp_socket(family: socket.AddressFamily, mode: SocketMode) -> socket.socket:
    """A non-blocking ICMP socket of `mode`, receiving echo replies with kernel timestamps.

    Raises PermissionError when the mode is not allowed, FamilyUnavailableError when the
    host lacks the family.
    """
    kind = socket.SOCK_DGRAM if mode is SocketMode.DATAGRAM else socket.SOCK_RAW
    try:
        sock = socket.socket(family, kind, _protocol(family))
    except OSError as exc:
        if exc.errno in (errno.EAFNOSUPPORT, errno.EPROTONOSUPPORT):
            raise FamilyUnavailableError(
                exc.errno, f"{_family_name(family)} is not available on this host"
            ) from exc
        raise
    try:
        sock.setblocking(False)
        # Kernel receive times keep RTTs honest when the event loop is busy elsewhere.
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _RECEIVE_BUFFER)
        if mode is SocketMode.RAW:
            _only_echo_replies(sock, family)
        else:
            # Binding picks the identifier the kernel writes into every echo we send.
            sock.bind(("0.0.0.0", 0) if family == socket.AF_INET else ("::", 0))
    except BaseException:
        sock.close()
        raise
    return sock


def permission_error(family: socket.AddressFamily, mode: SocketMode | None) -> PingPermissionError:
    """The error a user sees when no ICMP socket may be opened, naming the fix."""
    tried = {
        None: "an unprivileged ICMP socket or a raw socket",
        SocketMode.DATAGRAM: "an unprivileged ICMP socket (privileged: false)",
        SocketMode.RAW: "a raw ICMP socket (privileged: true)",
    }[mode]
    return PingPermissionError(
        errno.EPERM, f"ping: cannot open {tried} for {_family_name(family)}: {FIX_HINT}"
    )
