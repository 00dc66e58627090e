"""Rows of plain dicts printed as an aligned table, JSON or CSV.

A table is for people: each value reads with its unit (agent.cli.readable). JSON and CSV
are for programs: raw values in the units their keys name.

Cells hold device strings (ifAlias, sysDescr) and names from configs: every format escapes
their control characters (agent.text.printable), and CSV also neutralises a cell that a
spreadsheet would run as a formula (agent.text.spreadsheet_cell).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Mapping, Sequence

from linkwatch.agent.cli.readable import cell, csv_cell, heading
from linkwatch.agent.text import printable, spreadsheet_cell

# paint(column, value, cell text) -> the text to print (e.g. wrapped in ANSI colour)
Paint = Callable[[str, object, str], str]

FORMATS = ("table", "json", "csv")


def render(rows: Sequence[Mapping[str, object]], fmt: str, columns: Sequence[str],
           *, paint: Paint | None = None) -> str:
    """`rows` in `fmt`; `columns` orders the table and CSV (JSON keeps every key).

    `paint` decorates table cells after alignment, so colour codes never skew the columns.
    """
    if fmt == "json":
        return printable(json.dumps(list(rows), ensure_ascii=False, indent=2))
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=list(columns), extrasaction="ignore",
                                lineterminator="\n")
        writer.writeheader()
        writer.writerows({c: spreadsheet_cell(csv_cell(r.get(c))) if isinstance(r.get(c), str)
                          else csv_cell(r.get(c)) for c in columns} for r in rows)
        return printable(out.getvalue().rstrip("\n"))
    cells = [[heading(c) for c in columns]] + [
        [printable(cell(c, r.get(c)), lines=False) for c in columns] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    lines = ["  ".join(v.ljust(w) for v, w in zip(cells[0], widths, strict=True)).rstrip()]
    for row, cell_row in zip(rows, cells[1:], strict=True):
        padded = [
            (paint(c, row.get(c), v) if paint else v) + " " * (w - len(v))
            for c, v, w in zip(columns, cell_row, widths, strict=True)
        ]
        lines.append("  ".join(padded).rstrip())
    return "\n".join(lines)

