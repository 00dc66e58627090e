"""UDP transports for pysnmp that accept an answer only from where its request went.

pysnmp matches an answer to its request by message id alone, whatever address the answer
came from, and its ids count up from one random start, shared by every device. With the
same v2c community across a district, any device (or anyone on the LAN) could then answer
for another: a silent device looked up, with someone else's values. Here every message sent
is recorded with its message id and destination; a datagram reaches pysnmp only when it
carries the id of a message sent to the address and port it came from. Everything else is
dropped before pysnmp parses it. The ids themselves are drawn at random (`random_ids`), so
they cannot be guessed from one's own. A v1/v2c answer that passes has each value pysnmp
would refuse replaced by NULL first (ber.py), so one bad value costs only itself.

A device that answers from another address than the one polled (some multi-homed routers
do) is therefore never heard; `misdirected` keeps the last such source per polled address,
so the error can say where the answers came from.
"""

from __future__ import annotations

import ipaddress
import logging
import secrets
from collections import OrderedDict
from typing import Any

from pysnmp.carrier.asyncio.dgram import udp, udp6
from pysnmp.carrier.error import CarrierError
from pysnmp.hlapi.v3arch.asyncio import SnmpEngine, Udp6TransportTarget, UdpTransportTarget

from linkwatch.collector.snmp.ber import clean_answer, message_id

log = logging.getLogger(__name__)

# Requests awaiting an answer that are remembered; beyond this the oldest are forgotten
# (their answers, if they still come, are dropped like any unexpected datagram).
MAX_OUTSTANDING = 65_536

Peer = tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, int]


def _peer(address: Any) -> Peer | None:
    try:
        return ipaddress.ip_address(str(address[0]).split("%")[0]), int(address[1])
    except (ValueError, TypeError, IndexError):
        return None


class _Guard:
    """Mixed into pysnmp's IPv4 and IPv6 datagram transports (first, to wrap them)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sent: OrderedDict[int, Peer] = OrderedDict()
        self.misdirected: dict[Peer, Peer] = {}    # polled address → where answers came from
        self.heard: dict[Peer, int] = {}           # answers accepted, per polled address
        self.replaced: dict[Peer, list[tuple[str, str]]] = {}   # values nulled: (OID, why)
        self.dropped = 0

    def send_message(self, message: bytes, address: Any) -> None:
        msg_id, peer = message_id(message), _peer(address)
        if msg_id is not None and peer is not None:
            self.sent[msg_id] = peer
            self.sent.move_to_end(msg_id)
            while len(self.sent) > MAX_OUTSTANDING:
                self.sent.popitem(last=False)
        super().send_message(message, address)  # type: ignore[misc]

    def datagram_received(self, datagram: bytes, address: Any) -> None:
        msg_id, peer = message_id(datagram), _peer(address)
        expected = self.sent.get(msg_id) if msg_id is not None else None
        if msg_id is None or expected is None or expected != peer:
            self.dropped += 1
            if expected is not None and peer is not None:
                self.misdirected[expected] = peer
            return
        del self.sent[msg_id]
        self.heard[expected] = self.heard.get(expected, 0) + 1
        datagram, replaced = clean_answer(datagram)
        if replaced:
            self.replaced.setdefault(expected, []).extend(replaced)
        self.loop.call_soon(self._deliver, address, datagram)  # type: ignore[attr-defined]

    def _deliver(self, address: Any, datagram: bytes) -> None:
        deliver = self._callback_function  # type: ignore[attr-defined]
        if deliver is None:
            return   # the engine closed while the datagram waited
        try:
            deliver(self, address, datagram)
        except Exception:
            # pysnmp drops what it cannot parse, but a crafted answer must not end in a
            # traceback on the event loop whatever it trips; the request times out, and
            # its error says the device answered something unreadable (see `heard`).
            log.debug("snmp: an answer from %s was refused", address, exc_info=True)


class GuardedUdp(_Guard, udp.UdpAsyncioTransport):
    pass


class GuardedUdp6(_Guard, udp6.Udp6AsyncioTransport):
    pass


class GuardedUdpTarget(UdpTransportTarget):
    PROTO_TRANSPORT = GuardedUdp


class GuardedUdp6Target(Udp6TransportTarget):
    PROTO_TRANSPORT = GuardedUdp6


def random_ids(engine: SnmpEngine) -> None:
    """Draw this engine's message ids (the v1/v2c request-id, the v3 msgID) at random.

    pysnmp takes them from one counter per process, so a device that sees its own request's
    id knows the next device's. This sets the generator on the engine's own message
    processing caches (their class attribute stays as it is for everyone else).
    """
    for model in engine.message_processing_subsystems.values():
        # name-mangled attribute of pysnmp.proto.mpmod.cache.Cache; tests/unit hold it
        model._cache._Cache__message_id = _random_id


def _random_id() -> int:
    return 1 + secrets.randbelow(2**31 - 2)


def transport_of(engine: SnmpEngine, v6: bool) -> _Guard | None:
    """This engine's guarded transport for IPv4 or IPv6, once a request has opened it."""
    domain = udp6.DOMAIN_NAME if v6 else udp.DOMAIN_NAME
    dispatcher = engine.transport_dispatcher
    if dispatcher is None:
        return None
    try:
        transport = dispatcher.get_transport(domain)
    except CarrierError:
        return None   # not opened yet: no request of this family went out
    return transport if isinstance(transport, _Guard) else None
