"""The fault suite's table: each scenario adds its row; the table is printed at the end of
the run (in pytest's summary, so without -s too) and written to faults-table.txt in the
session's base temporary directory."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.faults.harness import AgentProcess
from tests.faults.ledger import HEADER, Row

_ROWS = pytest.StashKey[list[Row]]()


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_ROWS] = []


@pytest.fixture
def agents() -> Iterator[Callable[..., AgentProcess]]:
    """Makes the scenario's agent processes (as AgentProcess does) and kills every one still
    running when the test ends, passed or failed: no agent pings on into later tests."""
    made: list[AgentProcess] = []

    def make(config_path: Path, **options) -> AgentProcess:
        agent = AgentProcess(config_path, **options)
        made.append(agent)
        return agent

    yield make
    for agent in made:
        if agent.alive:
            agent.kill()


@pytest.fixture
def record_row(request: pytest.FixtureRequest):
    """Call with a ledger Row to put it in the table."""
    rows = request.config.stash[_ROWS]

    def record(row: Row) -> Row:
        rows.append(row)
        print(f"\n{HEADER}\n{row.line()}")
        return row

    return record


def pytest_terminal_summary(terminalreporter, exitstatus, config: pytest.Config) -> None:
    rows = config.stash.get(_ROWS, [])
    if not rows:
        return
    text = "\n".join([HEADER, *(r.line() for r in rows)]) + "\n"
    terminalreporter.section("store-and-forward faults")
    terminalreporter.write(text)
    try:
        base = config._tmp_path_factory.getbasetemp()  # the session's pytest tmp root
    except AttributeError:
        return
    path = base / "faults-table.txt"
    path.write_text(text)
    terminalreporter.write_line(f"(written to {path})")
