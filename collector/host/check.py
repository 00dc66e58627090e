"""The `host` check as configured."""

from dataclasses import dataclass

from linkwatch.collector.units import Seconds


@dataclass(frozen=True)
class HostCheck:
    """Measures the machine the agent runs on."""

    name: str = "host"
    interval: Seconds = Seconds(60)
    timeout: Seconds | None = None
    site: str | None = None
    disk_path: str = "/"              # file system whose usage is `disk_used_pct`
    nics: tuple[str, ...] = ()        # NICs for `host_net`; empty: every NIC but loopback
