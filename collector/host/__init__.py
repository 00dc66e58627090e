"""Host probe: CPU, memory, disk, load, uptime and NIC counters of this machine."""

from linkwatch.collector.host.check import HostCheck
from linkwatch.collector.kind import ProbeKind

PROBE = ProbeKind(kind="host", check=HostCheck, module="linkwatch.collector.host.probe",
                  title="host", measurements=("host", "host_net"), many=False,
                  metrics=("metrics.csv",))

__all__ = ["PROBE", "HostCheck"]
