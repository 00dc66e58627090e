"""A config key's contract, written once beside its dataclass field: default, meaning, unit
and limits. The loader enforces the limits, docs/configuration.md is held to the text.

    count: int = key(5, doc="echoes per cycle", low=1, high=100)
    interval: Seconds = key(Seconds(60), doc="time between cycles", positive=True)
    nics: tuple[str, ...] = key((), doc="NICs to measure; empty: every NIC but loopback")
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

_MISSING: Any = dataclasses.MISSING


def key(default: Any = _MISSING, *, doc: str, factory: Callable[[], Any] | None = None,
        unit: str | None = None, low: float | None = None, high: float | None = None,
        positive: bool = False) -> Any:
    """A dataclass field that is a config key. No default and no factory: the key is
    required. `low`/`high` are inclusive limits, `positive` requires more than zero."""
    metadata = {"doc": doc, "unit": unit, "low": low, "high": high, "positive": positive}
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)
