"""Host probe: CPU, memory, disk, load, uptime and NIC counters of this machine."""

from collector.host.check import HostCheck

__all__ = ["HostCheck"]
