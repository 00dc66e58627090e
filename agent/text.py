"""Text that leaves linkwatch for a person: a terminal, a log, a spreadsheet.

Device strings (ifAlias, sysDescr), names from a config and fields of an export are written
by others. Printed raw, an escape sequence in them can rewrite the terminal (move the
cursor, retitle the window, hide text), and a cell starting with `=` runs as a formula in a
spreadsheet. Every printer passes what it prints through these:

    printable("eth0\x1b]0;owned\x07")     # 'eth0\\u001b]0;owned\\u0007'
    spreadsheet_cell("=HYPERLINK(...)")   # "'=HYPERLINK(...)"

A log line's durations read the same everywhere: log_duration(723) is `12m03s`.
"""

from __future__ import annotations

import re

# C0 controls but tab and newline, DEL, C1 controls (0x9b is a one-byte CSI), the Unicode
# line and paragraph separators, and the controls that reorder text on screen
# (bidirectional marks, overrides and isolates).
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e"
                      "\u2066-\u2069]")
_CONTROL_OR_LAYOUT = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e"
                                "\u2066-\u2069]")
_SHORT = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")


def _escape(match: re.Match[str]) -> str:
    c = match.group()
    return _SHORT.get(c) or f"\\u{ord(c):04x}"


def printable(text: str, *, lines: bool = True) -> str:
    """`text` with every control character written as `\\uXXXX` (`\\n`, `\\r`, `\\t` for
    those three), so printing it can only show characters.

    `lines=True` keeps newlines and tabs (a message of several lines, a CSV); `lines=False`
    escapes them too (one cell of a table, one log line). The result is also valid inside
    a JSON string, so JSON output may pass through it whole.
    """
    pattern = _CONTROL if lines else _CONTROL_OR_LAYOUT
    if not pattern.search(text):
        return text
    return pattern.sub(_escape, text)


def spreadsheet_cell(value: object) -> object:
    """A CSV cell that a spreadsheet shows as text: a string starting with `=`, `+`, `-`,
    `@`, tab, CR or LF gets a leading `'` (OWASP's advice), so it is never run as a
    formula. Numbers are left as they are (a negative number is a number)."""
    if isinstance(value, str) and value.lstrip(" ").startswith(_FORMULA_START):
        return "'" + value
    return value


def log_duration(seconds: float) -> str:
    """`42s`, `5m12s`, `2h05m`, `3d04h`: short enough for a log line."""
    s = round(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"
