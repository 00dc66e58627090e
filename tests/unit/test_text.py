"""What is printed for a person: control characters escaped, formulas neutralised."""

from __future__ import annotations

import json

import pytest

from linkwatch.agent.cli.table import render
from linkwatch.agent.text import log_duration, printable, spreadsheet_cell

HOSTILE = "core\x1b]0;owned\x07\x1b[2J\x9b31m\u202eevil\rline\nnext\tcol"


def test_printable_leaves_only_characters_that_print():
    assert printable(HOSTILE) == ("core\\u001b]0;owned\\u0007\\u001b[2J\\u009b31m\\u202eevil"
                                  "\\rline\nnext\tcol")
    assert printable(HOSTILE, lines=False).count("\n") == 0
    assert printable("Ngọc Vừng — ổn") == "Ngọc Vừng — ổn"


@pytest.mark.parametrize(("cell", "shown"), [
    ("=HYPERLINK(\"http://x\",\"y\")", "'=HYPERLINK(\"http://x\",\"y\")"), ("+1", "'+1"),
    ("-2+3", "'-2+3"), ("@SUM(A1)", "'@SUM(A1)"), ("\tx", "'\tx"), ("\rx", "'\rx"),
    ("  =1", "'  =1"), ("Gi0/1", "Gi0/1"), (-5.0, -5.0), (3, 3), (None, None)])
def test_a_cell_a_spreadsheet_would_run_is_shown_as_text(cell, shown):
    assert spreadsheet_cell(cell) == shown


def test_every_format_of_the_cli_escapes_device_strings():
    rows = [{"device": "sw1", "if_alias": HOSTILE, "util": -1.5}]
    for fmt in ("table", "json", "csv"):
        out = render(rows, fmt, ["device", "if_alias", "util"])
        assert "\x1b" not in out and "\x9b" not in out and "\u202e" not in out
    assert json.loads(render(rows, "json", []))[0]["if_alias"] == HOSTILE
    assert len(render(rows, "table", ["device", "if_alias"]).splitlines()) == 2
    assert render([{"a": "=1+1"}], "csv", ["a"]) == "a\n'=1+1"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0s"), (45.4, "45s"), (723, "12m03s"), (18420, "5h07m"), (3 * 86400 + 4 * 3600, "3d04h")],
)
def test_a_log_line_duration_is_short_and_exact_enough(seconds: float, text: str) -> None:
    assert log_duration(seconds) == text
