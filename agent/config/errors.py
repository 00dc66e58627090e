"""Config problems: where each one is, what was expected, and how to fix it.

A load reports every problem it finds at once, as one `ConfigError`. The text format is the
compiler one, so editors and terminals can jump to the place:

    config.yaml:12:15: checks.ping[2].interval: expected a duration like 60s, got '5 minutes'
        hint: write 5m
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

KeyPath = tuple[str | int, ...]     # ("checks", "ping", 2, "interval")


def dotted(path: KeyPath) -> str:
    """`checks.ping[2].interval` (list positions count from 0)."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a config file. Never holds a secret value."""

    file: Path | None                 # None: no file yet (none was found)
    message: str
    line: int | None = None           # 1-based; None: the file as a whole
    column: int | None = None         # 1-based
    key: str = ""                     # dotted key path, e.g. `checks.ping[2].interval`
    hint: str | None = None

    def __str__(self) -> str:
        where = "" if self.file is None else str(self.file)
        if self.line is not None:
            where += f":{self.line}:{self.column or 1}"
        parts = [p for p in (where, self.key, self.message) if p]
        return ": ".join(parts) + (f"\n    hint: {self.hint}" if self.hint else "")


class ConfigError(Exception):
    """A config that cannot be used; `problems` lists everything wrong with it, in file order."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems: tuple[Problem, ...] = _merge_repeats(sorted(problems, key=_file_order))
        super().__init__(format_problems(self.problems))


def format_problems(problems: Sequence[Problem]) -> str:
    """The problems as text for a terminal or a log: one entry each, then a count.

    >>> print(format_problems([Problem(Path("c.yaml"), "unknown key 'x'", 3, 5, "agent.x")]))
    c.yaml:3:5: agent.x: unknown key 'x'
    1 problem in c.yaml
    """
    if not problems:
        return ""
    files = sorted({str(p.file) for p in problems if p.file is not None})
    count = f"{len(problems)} problem{'s' if len(problems) > 1 else ''}"
    count += f" in {', '.join(files)}" if files else ""
    return "\n".join([*(str(p) for p in problems), count])


def _merge_repeats(problems: list[Problem]) -> tuple[Problem, ...]:
    """One entry for a value shared by many keys (a YAML anchor), not one per key."""
    seen: dict[tuple[object, ...], list[Problem]] = {}
    for p in problems:
        seen.setdefault((p.file, p.line, p.column, p.message, p.hint), []).append(p)
    merged = []
    for group in seen.values():
        first = group[0]
        if len(group) > 1:
            first = dataclasses.replace(
                first, message=f"{first.message} (and {len(group) - 1} more keys using "
                               f"this value, the last {group[-1].key})")
        merged.append(first)
    return tuple(merged)


def _file_order(p: Problem) -> tuple[str, int, int]:
    return (str(p.file or ""), p.line or 0, p.column or 0)
