"""The `ping` check as configured."""

from dataclasses import dataclass

from linkwatch.collector.units import Seconds


@dataclass(frozen=True)
class PingCheck:
    """One ping target: `count` echoes per cycle, spread over the cycle."""

    name: str                         # tag `target`
    address: str                      # IPv4, IPv6 or a name, resolved every cycle
    interval: Seconds = Seconds(60)
    count: int = 5
    timeout: Seconds | None = None    # whole-cycle limit; default: the interval
    site: str | None = None           # default: the agent's site
    privileged: bool | None = None    # None: unprivileged datagram socket when allowed
    path_probe: bool = True           # trace the path when the state changes (collector/path)
