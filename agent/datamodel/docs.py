"""The generated sections of the docs: metrics tables from the measurement tables, key tables
from the config's field metadata. Everything between a marker and its end is rewritten; the
prose around it is written by hand.

    <!-- metrics: interface device -->     (measurements, or `all`)
    ...generated...
    <!-- /metrics -->
    <!-- keys: checks.snmp[].v3 -->        (a section of agent/config/reference.py)
    ...generated...
    <!-- /keys -->

Run from the repository root after changing a table or a config field:

    python -m linkwatch.agent.datamodel.docs --write     # rewrite the sections
    python -m linkwatch.agent.datamodel.docs             # list the files that differ
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from pathlib import Path

from linkwatch.agent.config.reference import key_table
from linkwatch.agent.datamodel.measurements import data_model
from linkwatch.collector.metrics import EVERY, MetricsTable

# The files that hold generated sections, relative to the repository root.
DOCS = ("docs/*.md", "collector/*/README.md")

ALL = "all"
_SECTION = re.compile(r"(<!-- (metrics|keys): ([^>]*?) -->\n)(.*?)(<!-- /\2 -->)", re.S)


class DocsError(ValueError):
    """A marker that names something that does not exist."""


def doc_files(root: Path) -> list[Path]:
    return sorted(p for pattern in DOCS for p in root.glob(pattern))


def regenerate(text: str, table: MetricsTable | None = None) -> str:
    """`text` with every generated section rewritten."""
    model = table if table is not None else data_model()

    def section(match: re.Match[str]) -> str:
        opening, what, args, _, closing = match.groups()
        body = (metrics_section(model, args.split()) if what == "metrics"
                else key_table(args.strip()))
        return f"{opening}{body}{closing}"
    return _SECTION.sub(section, text)


def sections(text: str) -> list[tuple[str, str]]:
    """The (kind, arguments) of every generated section in `text`."""
    return [(m.group(2), m.group(3).strip()) for m in _SECTION.finditer(text)]


def metrics_section(table: MetricsTable, measurements: Sequence[str]) -> str:
    """One block per measurement: a line saying what a point is, then its tags and fields."""
    if list(measurements) == [ALL]:
        measurements = table.measurements()
    unknown = [m for m in measurements if m not in table.measurements()]
    if unknown:
        raise DocsError(f"no table describes {', '.join(unknown)}; known: "
                        f"{', '.join(table.measurements())}")
    blocks = []
    for m in measurements:
        title = "Every measurement" if m == EVERY else f"`{m}`"
        lines = [f"{title}: {_sentence(table.describing(m).description)}", "",
                 "| kind | name | type | unit | meaning | absent when |",
                 "|---|---|---|---|---|---|"]
        for row in table.of(m):
            types = _either([f"`{t}`" for t in row.types])
            cells = (row.kind, f"`{row.name}`", types, row.unit, row.description,
                     row.absent or "—")
            lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
        blocks.append("\n".join(lines) + "\n")
    return "\n".join(blocks)


def _either(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


def _sentence(text: str) -> str:
    return text if text.endswith(".") else text + "."


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m linkwatch.agent.datamodel.docs",
        description="Rewrite the generated sections of the docs (metrics and config key "
                    "tables) from the tables and the config's fields.",
        epilog="Example, from the repository root: python -m linkwatch.agent.datamodel.docs "
               "--write")
    parser.add_argument("--write", action="store_true", help="rewrite the files that differ")
    parser.add_argument("--root", type=Path, default=Path.cwd(),
                        help="the repository root (default: the current directory)")
    args = parser.parse_args(argv)
    files = doc_files(args.root)
    if not files:
        parser.error(f"no docs under {args.root}: run it from the repository root")
    table = data_model()
    stale = []
    for path in files:
        text = path.read_text(encoding="utf-8")
        try:
            new = regenerate(text, table)
        except ValueError as e:
            print(f"{path}: {e}", file=sys.stderr)
            return 2
        if new != text:
            stale.append(path)
            if args.write:
                path.write_text(new, encoding="utf-8")
    for path in stale:
        print(f"{'rewrote' if args.write else 'differs'}: {path.relative_to(args.root)}")
    return 1 if stale and not args.write else 0


if __name__ == "__main__":
    sys.exit(main())
