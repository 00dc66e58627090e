"""How hard the fuzz suite tries: a few seconds per target in CI, longer from bench/fuzz.py.

`LINKWATCH_FUZZ_SCALE` multiplies every target's number of inputs (default 1, the CI run);
`LINKWATCH_FUZZ_SEED` unset keeps CI deterministic (the same inputs each run), while
bench/fuzz.py sets it to explore new ones.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

SCALE = max(1, int(os.environ.get("LINKWATCH_FUZZ_SCALE", "1")))
RANDOM = "LINKWATCH_FUZZ_SEED" in os.environ


def examples(n: int) -> settings:
    """Hypothesis settings for a target tried `n` times per unit of scale."""
    return settings(max_examples=n * SCALE, deadline=None, database=None,
                    derandomize=not RANDOM, print_blob=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.filter_too_much])
