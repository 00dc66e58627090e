"""The probes: each turns one configured check into samples and knows nothing of outputs.

The public surface is small on purpose: `Sample`, the probe contract (`ProbeContext`,
`Collect`, `StateStore`) and what a probe kind declares (`ProbeKind`, `StateRule`); the
kinds themselves are listed in `collector.registry`. Probe code lives in
`collector/<kind>/probe.py` and is imported only when a config uses that kind, so heavy
libraries load on demand.
"""

from linkwatch.collector.kind import ProbeKind, StateRule
from linkwatch.collector.sample import Collect, ProbeContext, Sample, StateStore

__all__ = ["Collect", "ProbeContext", "ProbeKind", "Sample", "StateRule", "StateStore"]
