"""Nearest-rank percentiles from a store whose quantiles interpolate (MetricsQL).

MetricsQL's quantile(φ) over n sorted values a[] is a[k]·(1 − w) + a[k+1]·w with
k + w = φ·(n − 1); with w exactly 0 it is a[k] itself. So the value at any rank i is asked
with φ = i ÷ (n − 1), stepped so that φ·(n − 1) is exactly i in floating point: the store
then returns a[i] unchanged (where no φ hits i exactly, the nearest above it, which is within
1e-12 of a[i]). The definition's p95 (agent.query.states.percentile) is the
value at rank ⌊n·0.95 + 0.5⌋ − 1.

When a period does not start and end on the 5-minute grid, its first and last windows are
partial and are computed apart (`merged_rank`): the rank is taken over the aligned windows
and those few partial ones together.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence


def rank_index(n: int, pct: float = 95.0) -> int | None:
    """The 0-based index of the nearest-rank `pct` percentile of n values (None if n = 0)."""
    i = int(n * pct / 100.0 + 0.5) - 1
    return i if 0 <= i < n else None


def phi_for(i: int, n: int) -> float:
    """The φ for which an interpolating quantile of n values returns the i-th: exactly when
    some φ·(n − 1) is exactly i in floating point, else the one just above it (weight below
    1e-12 on the next value, so within 1e-12 of it relatively)."""
    if n <= 1:
        return 0.0
    phi = i / (n - 1)
    while phi * (n - 1) > i:
        phi = math.nextafter(phi, -math.inf)
    while phi * (n - 1) < i:
        phi = math.nextafter(phi, math.inf)
    return min(1.0, phi)


def interior_ranks(r: int, n_interior: int, n_edges: int) -> range:
    """The ranks of the aligned values needed to place rank `r` of the union with
    `n_edges` other values: r − n_edges … r, as far as they exist."""
    return range(max(0, r - n_edges), min(n_interior, r + 1))


def merged_rank(r: int, interior: Mapping[int, float], edges: Sequence[float]) -> float:
    """The value at rank `r` of the union of a sorted list known only at the ranks
    `interior_ranks(r, …)` (index → value) and a few other values `edges`."""
    if not interior:
        return sorted(edges)[r]
    low = min(interior)
    if low == 0:
        return sorted([*interior.values(), *edges])[r]
    floor = interior[low]
    # the `low` values ranked below it in the list are ≤ floor, as are the edges below it
    below = low + sum(1 for e in edges if e < floor)
    rest = sorted([*interior.values(), *(e for e in edges if e >= floor)])
    return rest[r - below]
