"""How long a shipper waits before it tries a failing output again.

Exponential backoff with full jitter (a random wait between 0 and base × 2^n, capped), so
many agents cut off by the same outage do not all come back in the same second. A server's
Retry-After wins over the computed wait, within the cap.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Backoff:
    """Waits for consecutive failures; `reset()` after a success.

    Backoff(base=1.0, cap=300.0)   # 0–1 s, 0–2 s, 0–4 s … up to 0–300 s
    """

    base: float = 1.0
    cap: float = 300.0
    random: Callable[[], float] = field(default=random.random)
    failures: int = 0

    def next_wait(self, retry_after: float | None = None, *, floor: float = 0.0) -> float:
        """Seconds to wait after one more failure; at least `floor` (used for slow retries)."""
        ceiling = min(self.cap, self.base * 2 ** min(self.failures, 62))
        self.failures += 1
        wait = retry_after if retry_after is not None else ceiling * self.random()
        return min(self.cap, max(floor, wait))

    def reset(self) -> None:
        self.failures = 0
