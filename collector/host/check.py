"""The `host` check as configured."""

from dataclasses import dataclass

from linkwatch.collector.keys import key
from linkwatch.collector.units import Seconds

_MINUTE = Seconds(60)


@dataclass(frozen=True)
class HostCheck:
    """Measures the machine the agent runs on."""

    name: str = key("host", doc="the check's name (not a tag: host points carry only "
                    "`agent`, `site` and `nic`)")
    interval: Seconds = key(_MINUTE, doc="time between cycles; also the window of `cpu_pct`, "
                            "`rx_bps` and `tx_bps`", positive=True)
    timeout: Seconds | None = key(None, doc="whole-cycle limit", positive=True,
                                  default_doc="the interval")
    site: str | None = key(None, doc="tag `site` of every point", default_doc="`agent.site`")
    disk_path: str = key("/", doc="a path on the file system whose usage is `disk_used_pct`")
    nics: tuple[str, ...] = key((), doc="NICs that get a `host_net` point, e.g. `[eth0, wg0]`; "
                                "a listed NIC that does not exist in a cycle gets no point in "
                                "that cycle", default_doc="every NIC but `lo`")
