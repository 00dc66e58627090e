"""The secret values of a config, so logs can redact them wherever they turn up."""

from __future__ import annotations

import dataclasses
from typing import Any

from linkwatch.collector.units import Secret


def collect_secrets(config: Any) -> set[str]:
    """Every Secret in `config` (any dataclass tree), revealed: the log filter's list.

    Found by type, not by key name, so a new secret field is redacted with no change here.
    """
    found: set[str] = set()
    _walk(config, found)
    return found


def _walk(value: Any, found: set[str]) -> None:
    if isinstance(value, Secret):
        found.add(value.reveal())
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            _walk(getattr(value, f.name), found)
    elif isinstance(value, (tuple, list)):
        for item in value:
            _walk(item, found)
    elif isinstance(value, dict):
        for item in value.values():
            _walk(item, found)
