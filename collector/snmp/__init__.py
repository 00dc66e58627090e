"""SNMP probe: IF-MIB interface rates, device uptime, user OIDs and device profiles
(radio, power, sensor; see README.md and docs/profiles.md).

Importing this package is light; pysnmp loads only when probes are opened.
"""

from linkwatch.collector.kind import ProbeKind, StateRule
from linkwatch.collector.snmp.check import InterfaceSelection, SnmpCheck, SnmpOid, SnmpV3User

PROBE = ProbeKind(kind="snmp", check=SnmpCheck, module="linkwatch.collector.snmp.probe",
                  title="SNMP device",
                  measurements=("device", "interface", "snmp", "radio", "power", "sensor"),
                  state=StateRule("device", "device"),
                  metrics=("metrics.csv", "linkwatch.collector.snmp.profiles:metrics.csv"))

__all__ = ["PROBE", "InterfaceSelection", "SnmpCheck", "SnmpOid", "SnmpV3User"]
