"""The SNMP fuzz targets of tests/fuzz/test_snmp.py, run long: crafted answers from a
scapy-built agent on loopback against the real probe, and the BER reading before pysnmp.

    python bench/fuzz_snmp.py [--scale 20] [--minutes 0] [--seed N]

Each target runs `scale` times its CI number of inputs with inputs Hypothesis has not tried
in CI (a fresh seed each round); with `--minutes`, rounds repeat until the time is up.
Prints, per target, the inputs tried, the distinct failures found (by exception type and
the line it was raised at) and the run time. A failure prints Hypothesis's shrunk example;
the exit status is 1 when any was found.
"""

from __future__ import annotations

import argparse
import importlib
import os
import random
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

TARGETS = [
    "test_any_bytes_are_read_or_left_alone",
    "test_an_answer_with_values_snmp_refuses_decodes_once_cleaned",
    "test_any_counter_columns_give_only_fields_a_point_can_hold",
    "test_whatever_a_device_sends_nothing_is_forged_lost_or_stopped",
]


def counting(inner: Callable, tally: list[int]) -> Callable:
    def call(*args, **kwargs):
        tally[0] += 1
        return inner(*args, **kwargs)
    return call


def signature(error: BaseException) -> str:
    """Where a failure comes from: its type and the innermost frame in this repository."""
    frames = [f for f in traceback.extract_tb(error.__traceback__)
              if str(REPO) in f.filename and ".venv" not in f.filename]
    where = f"{Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else "?"
    return f"{type(error).__name__} at {where}"


def failures_of(error: BaseException) -> list[BaseException]:
    if isinstance(error, BaseExceptionGroup):
        return [e for sub in error.exceptions for e in failures_of(sub)]
    return [error]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=int, default=20, help="inputs × the CI number")
    parser.add_argument("--minutes", type=float, default=0,
                        help="repeat rounds with new seeds until this much time has passed")
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args()
    os.environ["LINKWATCH_FUZZ_SCALE"] = str(args.scale)
    os.environ["LINKWATCH_FUZZ_SEED"] = "1"       # explore: not CI's fixed inputs
    seed = args.seed if args.seed is not None else random.randrange(2**32)
    module = importlib.import_module("tests.fuzz.test_snmp")
    from hypothesis import seed as hypothesis_seed

    tried = {t: 0 for t in TARGETS}
    spent = {t: 0.0 for t in TARGETS}
    found: dict[str, dict[str, str]] = {t: {} for t in TARGETS}
    started = time.monotonic()
    rounds = 0
    while True:
        rounds += 1
        for name in TARGETS:
            test = getattr(module, name)
            tally = [0]
            original = test.hypothesis.inner_test
            test.hypothesis.inner_test = counting(original, tally)
            run = hypothesis_seed(seed + rounds)(test)
            t0 = time.monotonic()
            try:
                run()
            except Exception as error:   # a falsified invariant: recorded, then go on
                for failure in failures_of(error):
                    notes = "\n".join(getattr(failure, "__notes__", []))
                    found[name].setdefault(signature(failure),
                                           f"{failure!s:.1500}\n{notes:.3000}")
            finally:
                test.hypothesis.inner_test = original
                spent[name] += time.monotonic() - t0
                tried[name] += tally[0]
        if time.monotonic() - started >= args.minutes * 60:
            break

    print(f"SNMP fuzz: {rounds} round(s), seed {seed}, scale {args.scale}")
    print(f"  {'target':<66}{'inputs':>8}{'failures':>10}{'time s':>9}")
    for name in TARGETS:
        print(f"  {name:<66}{tried[name]:>8}{len(found[name]):>10}{spent[name]:>9.1f}")
    total = sum(len(f) for f in found.values())
    print(f"  {'all':<66}{sum(tried.values()):>8}{total:>10}"
          f"{time.monotonic() - started:>9.1f}")
    for name, failures in found.items():
        for where, text in failures.items():
            print(f"\n--- {name}: {where}\n{text}")
    return 1 if total else 0


if __name__ == "__main__":
    sys.exit(main())
