"""How a path probe is sent: the same settings serve the agent's hook and `linkwatch trace`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class TraceSettings:
    """One traceroute: `probes` probes for each TTL from 1 up to where the path ends (at
    most `max_hops`), TTL after TTL, then silent hops asked again
    (collector/path/traceroute.py).

        TraceSettings(max_hops=16, timeout_s=1.0)  # up to 16 × 3 probes, answers awaited 1 s
    """

    max_hops: int = 30
    probes: int = 3                   # probes per hop
    timeout_s: float = 2.0            # how long a probe's answer is awaited
    protocol: Literal["icmp", "udp"] = "icmp"
    step_s: float = 0.25              # a silent TTL is left for the next one after this
    retries: int = 5                  # silent hops asked again, one probe at a time ...
    retry_spacing_s: float = 1.1      # ... at least this long after the previous probe:
                                      # routers answer a host about once a second
    echo_quiet_s: float = 2.0         # ... and this long after the check's last echo

    def __post_init__(self) -> None:
        if not 1 <= self.max_hops <= 64:
            raise ValueError(f"max_hops must be between 1 and 64, got {self.max_hops}")
        if not 1 <= self.probes <= 10:
            raise ValueError(f"probes must be between 1 and 10, got {self.probes}")
        if not 0 < self.timeout_s <= 30:
            raise ValueError(f"timeout must be between 0 and 30 s, got {self.timeout_s}")


# The agent traces in the background, so it may ask a silent hop again for longer than a
# person at `linkwatch trace` would wait: long enough to outlast another trace toward the
# same broken router (one by hand, say), whose probes silence it as its own echoes do.
_AGENT_TRACE = TraceSettings(retries=10)


@dataclass(frozen=True)
class PathWatchSettings:
    """When the agent traces toward a ping target, and how many traces may run at once."""

    trace: TraceSettings = _AGENT_TRACE
    lossy_pct: float = 50.0           # a cycle with loss at or above this counts as lossy
    max_concurrent: int = 4           # traces at once; a site outage flips many targets
