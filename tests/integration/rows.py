"""Rows from different stores compared the way the definitions promise: the same keys and
the same text, integers and times, and numbers equal to 0.01 %."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

REL = 1e-4


def same_value(a: object, b: object) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        if not isinstance(a, int | float) or not isinstance(b, int | float):
            return False
        return math.isclose(a, b, rel_tol=REL, abs_tol=1e-9)
    return a == b


def assert_same_rows(expected: Sequence[Mapping[str, object]],
                     got: Sequence[Mapping[str, object]]) -> None:
    """Row by row, in order: the same keys, and each value the same (numbers to 0.01 %)."""
    assert len(got) == len(expected), (len(got), len(expected))
    for i, (want, row) in enumerate(zip(expected, got, strict=True)):
        assert set(row) == set(want), (i, sorted(set(row) ^ set(want)))
        different = {k: (want[k], row[k]) for k in want if not same_value(want[k], row[k])}
        assert not different, (i, dict(want), different)
