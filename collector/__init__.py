"""The probes: each turns one configured check into samples and knows nothing of outputs.

The public surface is small on purpose: `Sample`, the probe contract (`ProbeContext`,
`Collect`, `StateStore`) and `PROBE_KINDS`. Probe code lives in `collector/<kind>/probe.py`
and is imported only when a config uses that kind, so heavy libraries load on demand.
"""

from linkwatch.collector.sample import Collect, ProbeContext, Sample, StateStore

# check kind (the key under `checks:` in the config) → module with `open_probes`
PROBE_KINDS: dict[str, str] = {
    "ping": "linkwatch.collector.ping.probe",
    "snmp": "linkwatch.collector.snmp.probe",
    "host": "linkwatch.collector.host.probe",
}

__all__ = ["PROBE_KINDS", "Collect", "ProbeContext", "Sample", "StateStore"]
