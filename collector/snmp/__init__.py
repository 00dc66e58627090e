"""SNMP probe: IF-MIB interface rates, device uptime and user OIDs (see README.md).

Importing this package is light; pysnmp loads only when probes are opened.
"""

from linkwatch.collector.snmp.check import InterfaceSelection, SnmpCheck, SnmpOid, SnmpV3User

__all__ = ["InterfaceSelection", "SnmpCheck", "SnmpOid", "SnmpV3User"]
