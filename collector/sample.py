"""What every probe produces, and what a probe may use from the agent."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

FieldValue = int | float | str | bool


@dataclass(frozen=True, slots=True)
class Sample:
    """One point: a measurement, its tags and fields, and the time it was collected (ns).

    The time is taken once, at collection, never at send time. Tags `agent` and `site` are
    added by the scheduler; a probe sets only its own tags (target, address, device, ...).
    A field that could not be measured is absent, never a sentinel value.
    """

    measurement: str
    tags: Mapping[str, str]
    fields: Mapping[str, FieldValue]
    time_ns: int


class StateStore(Protocol):
    """Durable key → bytes storage for values later cycles need (e.g. SNMP counters)."""

    def get_state(self, key: str) -> bytes | None: ...

    def put_state(self, key: str, value: bytes) -> None: ...


@dataclass
class ProbeContext:
    """What the agent lends a probe kind while its checks are open.

    `exit_stack` takes the cleanup of anything the probes share (one SNMP engine per
    process, sockets); the agent closes it on shutdown and before a config reload.
    """

    store: StateStore
    exit_stack: contextlib.AsyncExitStack
    time_ns: Callable[[], int] = field(default=time.time_ns)


# One cycle of one check: returns its samples; raises only on a bug, never for a target
# that does not answer (that is a sample with up=0).
Collect = Callable[[], Awaitable[list[Sample]]]
