"""The `ping` check as configured."""

from dataclasses import dataclass

from linkwatch.collector.keys import key
from linkwatch.collector.units import Seconds

_MINUTE = Seconds(60)


@dataclass(frozen=True)
class PingCheck:
    """One ping target: `count` echoes per cycle, spread over the cycle."""

    name: str = key(doc="the check's name: the tag `target`")
    address: str = key(doc="IPv4 or IPv6 address, or a host name resolved every cycle (the "
                       "first address the resolver returns is probed)")
    interval: Seconds = key(_MINUTE, doc="time between cycles", positive=True)
    count: int = key(5, doc="echoes per cycle, spread over 80% of the cycle's limit", low=1,
                     high=100)
    timeout: Seconds | None = key(None, doc="limit on the whole cycle", positive=True,
                                  default_doc="the interval")
    site: str | None = key(None, doc="the site it stands for: tag `site`",
                           default_doc="`agent.site`")
    privileged: bool | None = key(None, doc="unset: an unprivileged ICMP socket where the "
                                  "system allows it, else a raw socket; `false`: only the "
                                  "unprivileged socket; `true`: only a raw socket",
                                  default_doc="unset")
    path_probe: bool = key(True, doc="trace the path toward the target when it goes down, "
                           "gets lossy or comes back, and write a `path` point; takes effect "
                           "only where the agent may (scapy installed, CAP_NET_RAW; see "
                           "docs/path.md)")
