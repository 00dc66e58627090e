"""SNMP probe: IF-MIB interface rates, device uptime and user OIDs (see README.md).

Importing this package is light; pysnmp loads only when probes are opened.
"""

from linkwatch.collector.kind import ProbeKind, StateRule
from linkwatch.collector.snmp.check import InterfaceSelection, SnmpCheck, SnmpOid, SnmpV3User

PROBE = ProbeKind(kind="snmp", check=SnmpCheck, module="linkwatch.collector.snmp.probe",
                  title="SNMP device",
                  measurements=("device", "interface", "snmp"), state=StateRule("device", "device"))

__all__ = ["PROBE", "InterfaceSelection", "SnmpCheck", "SnmpOid", "SnmpV3User"]
