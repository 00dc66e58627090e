"""A config key's contract, written once beside its dataclass field: default, meaning, unit
and limits. The loader enforces the limits, and the key tables of docs/configuration.md (and
of the probes' READMEs) are generated from them.

    count: int = key(5, doc="echoes per cycle", low=1, high=100)
    interval: Seconds = key(Seconds(60), doc="time between cycles", positive=True)
    nics: tuple[str, ...] = key((), doc="NICs to measure", default_doc="every NIC but `lo`")
    for_: Seconds = key(Seconds(0), doc="how long a condition holds first", name="for")

`default_doc` says what applies when the default alone does not say it (a None that means
"the interval", an empty list that means "every NIC"). `unit` is for plain numbers (`%`);
durations, sizes and rates carry their unit in their type. `name` is the key as written when
it cannot be the field's name (`for` is a Python keyword).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

_MISSING: Any = dataclasses.MISSING


def key(default: Any = _MISSING, *, doc: str, factory: Callable[[], Any] | None = None,
        default_doc: str | None = None, unit: str | None = None, low: float | None = None,
        high: float | None = None, positive: bool = False, name: str | None = None) -> Any:
    """A dataclass field that is a config key. No default and no factory: the key is
    required. `low`/`high` are inclusive limits, `positive` requires more than zero.
    `name` is the key as written when it cannot be the field's name (`for`, a keyword)."""
    metadata = {"doc": doc, "default_doc": default_doc, "unit": unit, "low": low,
                "high": high, "positive": positive, "key": name}
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def declared(metadata: Mapping[str, Any]) -> bool:
    """Whether a field was declared with key() (its metadata holds the contract)."""
    return "doc" in metadata


def key_name(f: dataclasses.Field[Any]) -> str:
    """The key a field is written as in the config: its `name=`, else the field's name."""
    return f.metadata.get("key") or f.name
