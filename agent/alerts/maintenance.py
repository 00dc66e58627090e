"""Which maintenance windows are open now, for the engine's every evaluation.

The windows themselves (and their expansion in the config's time zone) are
agent.config.maintenance's, shared with the availability queries; this keeps the ones open
at the last `refresh` so a subject's lookup costs a few comparisons.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from linkwatch.agent.config.maintenance import MaintenanceWindow


class OpenWindows:
    """The windows open at the last refresh."""

    def __init__(self, windows: Sequence[MaintenanceWindow], tz: dt.tzinfo) -> None:
        self._windows = tuple(windows)
        self._tz = tz
        self._open: tuple[MaintenanceWindow, ...] = ()

    def refresh(self, now_ns: int) -> bool:
        """Look again at `now_ns`; True when a window opened or closed since last time."""
        found = tuple(w for w in self._windows if w.spans(now_ns, now_ns + 1, self._tz))
        changed = found != self._open
        self._open = found
        return changed

    def covering(self, site: str, check: str | None) -> str | None:
        """The label of an open window covering `check` at `site`, else None."""
        for window in self._open:
            if window.covers(site, check):
                return window.label
        return None
