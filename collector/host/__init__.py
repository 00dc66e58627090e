"""Host probe: CPU, memory, disk, load, uptime and NIC counters of this machine."""

from linkwatch.collector.host.check import HostCheck

__all__ = ["HostCheck"]
