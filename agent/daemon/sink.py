"""Where the scheduler puts samples: the spool, committed in small groups.

Hundreds of checks finish their cycles within moments of each other; one transaction (one
fsync) and one wake-up of the shippers per group, instead of one per check, is what keeps a
200-target agent cheap. A sample counts as collected once its group is committed, at most
`linger_s` after its cycle ended.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from linkwatch.agent.spool import Spool
from linkwatch.collector import Sample

log = logging.getLogger("linkwatch.agent")

LINGER_S = 0.5          # how long a sample may wait for others before the commit
MAX_PENDING = 5000      # commit at once when this many are waiting


@dataclass
class SpoolSink:
    spool: Spool
    wakes: Sequence[asyncio.Event] = ()
    on_state_change: Callable[[], None] | None = None   # a target's `up` changed
    committed: Callable[[list[Sample]], None] | None = None   # after each commit: alerts
    linger_s: float = LINGER_S
    pending: list[Sample] = field(default_factory=list)
    _timer: asyncio.TimerHandle | None = None
    _up: dict[tuple, object] = field(default_factory=dict)

    def __call__(self, samples: list[Sample]) -> None:
        self.pending.extend(samples)
        if len(self.pending) >= MAX_PENDING:
            self.flush()
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self.linger_s, self.flush)

    def flush(self) -> None:
        """Commit what is pending and wake the shippers."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self.pending:
            return
        samples, self.pending = self.pending, []
        self.spool.append(samples)
        for wake in self.wakes:
            wake.set()
        if self.committed is not None:
            try:
                self.committed(samples)
            except Exception:  # alerting must never stop collection: the samples are in
                log.exception("alert evaluation failed on %d committed samples", len(samples))
        if self.on_state_change is not None and self._up_changed(samples):
            self.on_state_change()

    def _up_changed(self, samples: Sequence[Sample]) -> bool:
        changed = False
        for s in samples:
            if "up" in s.fields:
                key = (s.measurement, tuple(sorted(s.tags.items())))
                changed |= self._up.get(key) != s.fields["up"]
                self._up[key] = s.fields["up"]
        return changed
