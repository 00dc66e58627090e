"""Echoes held back toward an address while a trace runs toward it.

A router past which the path is broken answers a ping check's echoes with "unreachable",
and those answers spend the same allowance (about one ICMP error per second) its answers to
the trace need: a trace run beside the pings finds the router silent and names the one
before it. So while the path probe traces toward a target that went down, the ping check
of that target holds its echoes back: each waits for the trace to end while its cycle can
still end in time; past that it is not sent (and not counted as sent), except that two
cycles in a row are never left without echoes. A cycle none of whose echoes left has no
sample: UNKNOWN time, never a made-up loss; and one missed sample is no gap in the data
(docs/cli.md, "Data gap"), so an outage is not cut in two. The trace, for its part,
probes the router only once it has heard nothing from the echoes for a while.

    hold = EchoHold()
    with hold.holding("192.0.2.1"):           # the path probe, while it traces
        ...
    await hold.until_free("192.0.2.1", seconds)   # the ping probe, before an echo
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator


class EchoHold:
    """The addresses a trace runs toward right now (shared by the ping checks of an agent)."""

    def __init__(self) -> None:
        self._traces: dict[str, int] = {}
        self._released: dict[str, asyncio.Event] = {}
        self._echoed: dict[str, float] = {}

    def echoed(self, address: str, at: float) -> None:
        """An echo left toward `address` at `at` (the event loop's clock)."""
        self._echoed[address] = at

    def last_echo(self, address: str) -> float | None:
        """When the last echo left toward `address` (the loop's clock), if one did: a trace
        spaces its probes from it too."""
        return self._echoed.get(address)

    @contextlib.contextmanager
    def holding(self, address: str) -> Iterator[None]:
        """Hold the echoes toward `address` while the block runs."""
        self._traces[address] = self._traces.get(address, 0) + 1
        self._released.setdefault(address, asyncio.Event()).clear()
        try:
            yield
        finally:
            self._traces[address] -= 1
            if not self._traces[address]:
                del self._traces[address]
                self._released.pop(address).set()

    def held(self, address: str) -> bool:
        return address in self._traces

    async def until_free(self, address: str, seconds: float) -> bool:
        """True once no trace runs toward `address` (at once when none does); False when
        one still runs after `seconds`."""
        released = self._released.get(address)
        if released is None:
            return True
        if seconds <= 0:
            return False
        try:
            await asyncio.wait_for(released.wait(), seconds)
        except TimeoutError:
            return False
        return True
