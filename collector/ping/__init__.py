"""ICMP echo probe: loss, round-trip times and jitter per target."""

from linkwatch.collector.kind import ProbeKind, StateRule
from linkwatch.collector.ping.check import PingCheck

PROBE = ProbeKind(kind="ping", check=PingCheck, module="linkwatch.collector.ping.probe",
                  title="ping target", measurements=("ping", "path"),
                  state=StateRule("ping", "target", links=True),
                  metrics=("metrics.csv", "linkwatch.collector.path:metrics.csv"))

__all__ = ["PROBE", "PingCheck"]
