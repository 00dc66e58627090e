"""Progress of long work, on a terminal only: one line on stderr, redrawn in place.

    with Progress() as progress:          # nothing is drawn when stderr is not a terminal
        seed(..., progress=progress)      # the work calls progress("writing 2026-10", done, total)

The work reports (what, done, total); the line shows the percentage and the counts, and is
cleared when the work ends, so what the command prints afterwards stands alone.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

_REDRAW_S = 0.1


class Progress:
    """A callable `(what, done, total)` that draws on `stream` when it is a terminal."""

    def __init__(self, stream: TextIO | None = None, *, force: bool = False) -> None:
        self._stream = stream or sys.stderr
        self.shown = force or self._stream.isatty()
        self._drawn = 0.0
        self._width = 0

    def __call__(self, what: str, done: int, total: int) -> None:
        if not self.shown:
            return
        now = time.monotonic()
        if now - self._drawn < _REDRAW_S and done < total:
            return
        self._drawn = now
        pct = 100 * done // total if total else 100
        line = f"{what}: {min(pct, 100):3d}% ({done:,} of {total:,})"
        self._stream.write("\r" + line.ljust(self._width))
        self._stream.flush()
        self._width = len(line)

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *_exc: object) -> None:
        if self.shown and self._width:
            self._stream.write("\r" + " " * self._width + "\r")
            self._stream.flush()
