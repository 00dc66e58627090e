"""The docs' metrics and key tables are what the tables and the config's fields generate:
a row deleted, added or edited by hand in a generated section fails here, and so does a
measurement or config section that no doc shows."""

from __future__ import annotations

from pathlib import Path

import pytest

from linkwatch.agent.config.reference import sections as config_sections
from linkwatch.agent.datamodel.docs import doc_files, regenerate, sections
from linkwatch.collector.metrics import probe_metrics
from linkwatch.collector.registry import BUILTIN

REPO = Path(__file__).resolve().parents[2]
FIX = "run `python -m linkwatch.agent.datamodel.docs --write` from the repository root"
DATA_MODEL = REPO / "docs" / "data-model.md"
CONFIGURATION = REPO / "docs" / "configuration.md"


@pytest.mark.parametrize("path", doc_files(REPO), ids=lambda p: str(p.relative_to(REPO)))
def test_each_generated_section_is_what_its_source_generates(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert regenerate(text) == text, f"{path.relative_to(REPO)} differs: {FIX}"


@pytest.mark.parametrize(("path", "row"), [
    (DATA_MODEL, "| field | `in_discards` |"),
    (CONFIGURATION, "| `capacity_down` |"),
    (REPO / "collector" / "snmp" / "README.md", "| `capacity_down` |"),
])
def test_a_row_deleted_from_a_generated_section_is_seen(path: Path, row: str) -> None:
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines(keepends=True)
    [line] = [n for n, t in enumerate(lines) if t.startswith(row)]
    edited = "".join(lines[:line] + lines[line + 1:])
    assert regenerate(edited) != edited     # what the test above would report
    assert regenerate(edited) == text       # and --write puts the row back


def test_the_data_model_shows_every_measurement() -> None:
    assert ("metrics", "all") in sections(DATA_MODEL.read_text(encoding="utf-8"))


@pytest.mark.parametrize("probe", BUILTIN, ids=lambda p: p.kind)
def test_each_measurement_of_a_probe_is_shown_in_a_probe_readme(probe) -> None:
    shown = {m for path in REPO.glob("collector/*/README.md")
             for kind, args in sections(path.read_text(encoding="utf-8"))
             if kind == "metrics" for m in args.split()}
    assert set(probe_metrics(probe).measurements()) <= shown


def test_every_config_section_has_its_key_table_in_configuration_md() -> None:
    shown = {args for kind, args in sections(CONFIGURATION.read_text(encoding="utf-8"))
             if kind == "keys"}
    assert {name for name, _ in config_sections()} == shown
