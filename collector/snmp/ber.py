"""The little of an SNMP message read before pysnmp sees it (BER, X.690). Pure.

- `message_id`: the id an answer is matched to its request by.
- `clean_answer`: a v1/v2c answer with every varbind value that pysnmp would refuse (out of
  its SMI range, of a type SNMP does not have, malformed) replaced by NULL. pysnmp drops a
  whole message for one such value, so one port's all-ones or nine-byte Counter64 would
  cost every other value of the answer: the device would look down.

v3 answers are left as they are: their PDU may be encrypted, and is always authenticated.
"""

from __future__ import annotations

from collections.abc import Iterator

_SEQUENCE, _INTEGER, _OCTETS, _NULL, _OID = 0x30, 0x02, 0x04, 0x05, 0x06
_RESPONSE = 0xA2
_NULL_VALUE = b"\x05\x00"
_INT32 = 2**31
# What pysnmp's message specs take (RFC 1155/1157 for v1, RFC 2578/3416 for v2c): an
# obsolete UInteger32 (0x47) or NsapAddress (0x45) is refused like any unknown type.
_UNSIGNED = {0x41: 2**32, 0x42: 2**32, 0x43: 2**32, 0x46: 2**64}
_APPLICATION_NAMES = {0x40: "IpAddress", 0x41: "Counter32", 0x42: "Gauge32",
                      0x43: "TimeTicks", 0x44: "Opaque", 0x46: "Counter64"}
_EXCEPTIONS = (0x80, 0x81, 0x82)   # noSuchObject, noSuchInstance, endOfMibView (v2c)


class Malformed(ValueError):
    """Not BER this module can read."""


def _header(data: bytes, pos: int, end: int) -> tuple[int, int, int]:
    """(tag, content start, content end) of the TLV at `pos`."""
    if pos + 2 > end:
        raise Malformed("truncated")
    tag, first = data[pos], data[pos + 1]
    pos += 2
    if first < 0x80:
        length = first
    else:
        count = first & 0x7F
        if not 1 <= count <= 4 or pos + count > end:
            raise Malformed("bad length")   # indefinite or absurd lengths included
        length = int.from_bytes(data[pos:pos + count], "big")
        pos += count
    if pos + length > end:
        raise Malformed("truncated")
    return tag, pos, pos + length


def _expect(data: bytes, pos: int, end: int, tag: int) -> tuple[int, int]:
    found, start, stop = _header(data, pos, end)
    if found != tag:
        raise Malformed(f"tag 0x{found:02x} where 0x{tag:02x} was expected")
    return start, stop


def _integer(data: bytes, pos: int, end: int, *, octets: int = 5) -> tuple[int, int]:
    start, stop = _expect(data, pos, end, _INTEGER)
    if not 1 <= stop - start <= octets:
        raise Malformed("bad integer")
    return int.from_bytes(data[start:stop], "big", signed=True), stop


def message_id(message: bytes) -> int | None:
    """The PDU's request-id (v1/v2c) or the msgID (v3): both sit in the clear, before any
    encrypted part. None when the message cannot be read that far."""
    try:
        start, end = _expect(message, 0, len(message), _SEQUENCE)
        version, pos = _integer(message, start, end)
        if version in (0, 1):
            _, pos = _expect(message, pos, end, _OCTETS)          # community
            tag, start, end = _header(message, pos, end)
            if not 0xA0 <= tag <= 0xA8:                           # a PDU
                return None
            return _integer(message, start, end)[0]              # request-id
        if version == 3:
            start, end = _expect(message, pos, end, _SEQUENCE)    # msgGlobalData
            return _integer(message, start, end)[0]              # msgID
    except Malformed:
        return None
    return None


def oid_text(content: bytes) -> str:
    """An OBJECT IDENTIFIER's content octets as `.1.3.6…`; Malformed if they are not one."""
    if not content or content[-1] & 0x80:
        raise Malformed("bad OBJECT IDENTIFIER")
    parts, value, starting = [], 0, True
    for octet in content:
        if starting and octet == 0x80:
            raise Malformed("a subidentifier padded with 0x80")   # X.690 8.19.2
        starting = not octet & 0x80
        value = (value << 7) | (octet & 0x7F)
        if not octet & 0x80:
            parts.append(value)
            value = 0
    first = parts[0]
    head = [min(first // 40, 2), first - 40 * min(first // 40, 2)]
    return "." + ".".join(map(str, [*head, *parts[1:]]))


def _problem(tag: int, content: bytes, version: int) -> str | None:
    """Why pysnmp would refuse this varbind value, or None when it takes it."""
    if tag == _INTEGER:
        if not content:
            return "an empty INTEGER"
        value = int.from_bytes(content, "big", signed=True)
        return None if -_INT32 <= value < _INT32 else f"INTEGER {_short(value)} out of range"
    if tag == 0x46 and version == 0:
        return "a Counter64, which SNMPv1 does not have"
    if tag in _UNSIGNED:
        if not content:
            return f"an empty {_APPLICATION_NAMES[tag]}"
        value = int.from_bytes(content, "big", signed=True)
        if 0 <= value < _UNSIGNED[tag]:
            return None
        return f"{_APPLICATION_NAMES[tag]} {_short(value)} out of range"
    if tag in (_OCTETS, 0x44):
        return None
    if tag == 0x40:
        return None if len(content) == 4 else f"an IpAddress of {len(content)} octets"
    if tag == _OID:
        try:
            oid_text(content)
        except Malformed:
            return "a malformed OBJECT IDENTIFIER"
        return None
    if tag == _NULL:
        return None if not content else "a NULL with content"
    if tag in _EXCEPTIONS and version == 1:
        return None if not content else "a varbind exception with content"
    return f"a value of type 0x{tag:02x}, which SNMP does not have"


def _short(value: int) -> str:
    text = str(value)
    return text if len(text) <= 24 else f"{text[:10]}…({len(text)} digits)"


def _length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def _tlv(tag: int, content: bytes) -> bytes:
    return bytes([tag]) + _length(len(content)) + content


def _varbinds(message: bytes, start: int, end: int,
              ) -> Iterator[tuple[int, int, int, int, int, int]]:
    """Per varbind of the list: (its start, the name's TLV start, the name's content start,
    the value's TLV start, the value's tag, its end)."""
    pos = start
    while pos < end:
        name_at, bind_end = _expect(message, pos, end, _SEQUENCE)
        name_body, value_at = _expect(message, name_at, bind_end, _OID)
        tag, _, value_end = _header(message, value_at, bind_end)
        if value_end != bind_end:
            raise Malformed("a varbind with more than a name and a value")
        yield pos, name_at, name_body, value_at, tag, bind_end
        pos = bind_end


def clean_answer(message: bytes) -> tuple[bytes, list[tuple[str, str]]]:
    """The message with each value pysnmp would refuse replaced by NULL, and what was
    replaced: (OID, why). Anything but a readable v1/v2c Response comes back unchanged."""
    try:
        start, end = _expect(message, 0, len(message), _SEQUENCE)
        version, pos = _integer(message, start, end)
        if version not in (0, 1):
            return message, []
        _, pos = _expect(message, pos, end, _OCTETS)
        pdu_start = pos
        tag, pdu_body, pdu_end = _header(message, pos, end)
        if tag != _RESPONSE:
            return message, []
        pos = pdu_body
        for _ in range(3):                  # request-id, error-status, error-index
            _, pos = _integer(message, pos, pdu_end)
        list_start = pos
        binds_body, binds_end = _expect(message, pos, pdu_end, _SEQUENCE)
        kept: list[bytes] = []
        replaced: list[tuple[str, str]] = []
        for at, name_at, name_body, value_at, value_tag, bind_end in _varbinds(
                message, binds_body, binds_end):
            value_body = _header(message, value_at, bind_end)[1]
            why = _problem(value_tag, message[value_body:bind_end], version)
            if why is None:
                kept.append(message[at:bind_end])
                continue
            replaced.append((oid_text(message[name_body:value_at]), why))
            kept.append(_tlv(_SEQUENCE, message[name_at:value_at] + _NULL_VALUE))
    except Malformed:
        return message, []
    if not replaced:
        return message, []
    binds = _tlv(_SEQUENCE, b"".join(kept))
    pdu = _tlv(tag, message[pdu_body:list_start] + binds + message[binds_end:pdu_end])
    body = message[start:pdu_start] + pdu + message[pdu_end:end]
    return _tlv(_SEQUENCE, body) + message[end:], replaced
