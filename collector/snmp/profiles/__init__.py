"""Device profiles: what to poll on a kind of device and what it means, as data (YAML).

A profile lists OIDs (scalars and table columns) with the field each becomes, its type,
unit, scale and meaning; how table rows are tagged; which values are states. The SNMP probe
polls a device's profiles in its own cycle, with no MIB loaded (docs/profiles.md).

Light to import: the model and loader need only PyYAML; pysnmp loads with the poller.
"""

from linkwatch.collector.snmp.profiles.loader import (
    ProfileError,
    ProfilesInvalid,
    load_catalog,
    shipped_catalog,
)
from linkwatch.collector.snmp.profiles.model import Catalog, Profile

__all__ = ["Catalog", "Profile", "ProfileError", "ProfilesInvalid", "load_catalog",
           "shipped_catalog"]
