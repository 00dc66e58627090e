"""ICMP and ICMPv6 echo messages: building requests and reading replies.

Kept free of sockets so the byte layout can be tested on its own.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

ICMP_ECHO_REPLY = 0
ICMP_ECHO_REQUEST = 8
ICMPV6_ECHO_REQUEST = 128
ICMPV6_ECHO_REPLY = 129

PAYLOAD_SIZE = 56  # what ping(8) sends: 64-byte ICMP messages
TOKEN_SIZE = 8

_HEADER = struct.Struct("!BBHHH")  # type, code, checksum, identifier, sequence


@dataclass(frozen=True, slots=True)
class EchoReply:
    identifier: int
    sequence: int
    token: bytes  # the first TOKEN_SIZE payload bytes, echoed back unchanged


def _fold(total: int) -> int:
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return total


def _word_sum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    return sum(struct.unpack(f"!{len(data) // 2}H", data))


def checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071) of `data`."""
    return ~_fold(_word_sum(data)) & 0xFFFF


class EchoTemplate:
    """Echo requests of one socket: fixed type and payload, identifier and sequence vary.

    The payload starts with a random token so a reply can be told from one meant for
    another program that happens to use the same identifier on a raw socket.
    The checksum is only filled in where the kernel does not do it (raw IPv4 sockets);
    the sum of the fixed part is computed once, so each request costs two additions.
    """

    def __init__(self, *, request_type: int, token: bytes, fill_checksum: bool) -> None:
        if len(token) != TOKEN_SIZE:
            raise ValueError(f"token must be {TOKEN_SIZE} bytes")
        self._type = request_type
        self._payload = token + bytes(PAYLOAD_SIZE - TOKEN_SIZE)
        self._fill_checksum = fill_checksum
        self._fixed_sum = (request_type << 8) + _word_sum(self._payload)

    def build(self, identifier: int, sequence: int) -> bytes:
        csum = 0
        if self._fill_checksum:
            csum = ~_fold(self._fixed_sum + identifier + sequence) & 0xFFFF
        return _HEADER.pack(self._type, 0, csum, identifier, sequence) + self._payload


def parse_echo_reply(data: bytes, *, reply_type: int, ip_header: bool) -> EchoReply | None:
    """The echo reply in `data`, or None if it is anything else.

    Raw IPv4 sockets deliver the IP header in front of the ICMP message; ICMPv6 and
    datagram ICMP sockets deliver the ICMP message alone.
    """
    offset = 0
    if ip_header:
        if len(data) < 20:
            return None
        offset = (data[0] & 0x0F) * 4
    if len(data) < offset + _HEADER.size + TOKEN_SIZE:
        return None
    msg_type, code, _csum, identifier, sequence = _HEADER.unpack_from(data, offset)
    if msg_type != reply_type or code != 0:
        return None
    start = offset + _HEADER.size
    return EchoReply(identifier, sequence, bytes(data[start : start + TOKEN_SIZE]))
