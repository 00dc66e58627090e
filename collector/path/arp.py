"""An ARP sweep of a directly attached IPv4 subnet, with scapy (needs CAP_NET_RAW)."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterator
from dataclasses import dataclass

MAX_ADDRESSES = 65536   # a /16; larger sweeps take hours at a polite rate


class SweepError(Exception):
    """The sweep cannot run; the message says why and what to do."""


@dataclass(frozen=True, slots=True)
class Neighbour:
    address: str
    mac: str


@dataclass(frozen=True, slots=True)
class Interface:
    name: str
    address: str        # ours on that link: the sender of the requests


def find_interface(subnet: ipaddress.IPv4Network, name: str | None = None) -> Interface:
    """The interface the kernel's routes attach `subnet` to (or `name`, checked)."""
    import scapy.route  # noqa: F401  (sets conf.route, reading the kernel's routes)
    from scapy.config import conf
    from scapy.interfaces import resolve_iface

    first = str(next(subnet.hosts(), subnet.network_address))
    iface, source, gateway = conf.route.route(first)
    if name is not None:
        try:
            resolve_iface(name)
        except ValueError as e:
            raise SweepError(f"no interface named {name!r} (see `ip link`)") from e
        if iface != name:
            raise SweepError(f"{subnet} is not routed over {name} but over {iface}: "
                             f"drop --interface, or pick the subnet of {name} (see `ip addr`)")
    if gateway not in ("0.0.0.0", None) or source in ("0.0.0.0", None):
        raise SweepError(f"{subnet} is not directly attached (reached via {gateway}): ARP "
                         "only sees the local link; give a subnet from `ip -4 addr`")
    return Interface(str(iface), str(source))


def sweep(subnet: ipaddress.IPv4Network, *, interface: Interface, rate: float,
          wait_s: float = 1.0, progress: Callable[[int], None] | None = None
          ) -> list[Neighbour]:
    """Ask every address of `subnet` for its MAC, `rate` requests per second at most.

    `progress(n)` is called with the number of requests just sent. Blocking: run it in a
    thread from asyncio code.
    """
    from scapy.layers.l2 import ARP, Ether
    from scapy.sendrecv import srp

    def requests() -> Iterator:
        for address in subnet.hosts() if subnet.prefixlen < 31 else subnet:
            if str(address) == interface.address:
                continue
            yield Ether(dst="ff:ff:ff:ff:ff:ff") / ARP(pdst=str(address),
                                                      psrc=interface.address)
            if progress is not None:
                progress(1)

    # srp sends from a generator as it goes (so `progress` follows the sending); scapy's
    # annotations list only the materialised packet collections.
    answered, _ = srp(requests(), iface=interface.name,  # type: ignore[arg-type]
                      timeout=wait_s, inter=1.0 / rate, verbose=0)
    found = {reply[ARP].psrc: reply[ARP].hwsrc for _, reply in answered}
    return [Neighbour(a, found[a]) for a in sorted(found, key=ipaddress.IPv4Address)]


def parse_subnet(text: str) -> ipaddress.IPv4Network:
    """`10.0.5.0/24` → the network; raises SweepError with the fix."""
    try:
        subnet = ipaddress.ip_network(text, strict=False)
    except ValueError as e:
        raise SweepError(f"{text!r} is not a subnet: write it like 192.168.10.0/24") from e
    if subnet.version != 4:
        raise SweepError(f"{text}: ARP discovery covers IPv4 subnets only")
    if subnet.num_addresses > MAX_ADDRESSES:
        raise SweepError(f"{text} has {subnet.num_addresses} addresses; sweep at most a /16 "
                         "at a time")
    return subnet
