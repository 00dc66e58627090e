"""The `ping` check as configured."""

from dataclasses import dataclass

from linkwatch.collector.keys import key
from linkwatch.collector.units import Seconds

_MINUTE = Seconds(60)


@dataclass(frozen=True)
class PingCheck:
    """One ping target: `count` echoes per cycle, spread over the cycle."""

    name: str = key(doc="the target's name: the tag `target`")
    address: str = key(doc="IPv4, IPv6 or a name, resolved every cycle")
    interval: Seconds = key(_MINUTE, doc="time between cycles", positive=True)
    count: int = key(5, doc="echoes per cycle, spread over the cycle", low=1, high=100)
    timeout: Seconds | None = key(None, doc="limit on the whole cycle; default: the interval",
                                  positive=True)
    site: str | None = key(None, doc="the site it stands for; default: the agent's")
    privileged: bool | None = key(None, doc="raw socket (true) or unprivileged datagram "
                                  "socket (false); default: unprivileged when allowed")
    path_probe: bool = key(True, doc="trace the path when the state changes (docs/path.md)")
