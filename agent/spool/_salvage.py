"""A spool file SQLite cannot read: move it aside, and read back what can still be read.

Python's sqlite3 has no `.recover`. Two readers are combined: a scan of the raw pages for
point rows (see _pages: it finds leaves the b-tree no longer reaches, as in a truncated
file), and a walk of the point table in id order through SQL that steps over damaged pages.
Every line read back is decoded; one that does not decode is left behind (it would only be
rejected by the server).
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from linkwatch.agent.datamodel.lineprotocol import LineProtocolError, decode
from linkwatch.agent.spool._pages import scan_points
from linkwatch.collector.sample import Sample

log = logging.getLogger("linkwatch.spool")

_MAX_FAILURES = 256
_MAX_ID = 2**62


@dataclass
class Salvage:
    """What was read back from a damaged spool."""

    points: list[tuple[bytes, Sample]] = field(default_factory=list)
    state: dict[str, bytes] = field(default_factory=dict)
    counters: dict[str, int] = field(default_factory=dict)
    unreadable_regions: int = 0       # damaged places the SQL walk had to step over
    from_pages: int = 0               # point cells found by scanning pages directly


def problem_with(path: Path) -> str | None:
    """None when `path` opens as a database that passes `PRAGMA quick_check`, else why not."""
    from linkwatch.agent.spool._schema import quick_check

    try:
        conn = sqlite3.connect(path, isolation_level=None, timeout=10.0)
    except sqlite3.Error as e:
        return str(e)
    try:
        conn.execute("PRAGMA user_version").fetchone()
        return quick_check(conn)
    except sqlite3.DatabaseError as e:
        return str(e)
    finally:
        conn.close()


def move_aside(path: Path, problem: str, now_ns: int) -> Path:
    """Rename the damaged file (and its -wal) to `<name>.corrupt-<UTC timestamp>`."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now_ns / 1e9))
    aside = path.with_name(f"{path.name}.corrupt-{stamp}")
    n = 1
    while aside.exists():
        n += 1
        aside = path.with_name(f"{path.name}.corrupt-{stamp}.{n}")
    path.rename(aside)
    wal = path.with_name(path.name + "-wal")
    if wal.exists():
        wal.rename(aside.with_name(aside.name + "-wal"))
    shm = path.with_name(path.name + "-shm")
    with contextlib.suppress(FileNotFoundError):
        shm.unlink()
    log.error("spool %s is damaged (%s): moved it to %s and starting a fresh spool; "
              "points that can still be read are queued again", path, problem, aside)
    return aside


def _walk_points(conn: sqlite3.Connection, found: dict[int, bytes]) -> int:
    """Read the point table in id order through SQL, stepping over damaged pages."""
    last, skip, failures = 0, 1, 0
    while failures < _MAX_FAILURES and last < _MAX_ID:
        try:
            for _id, line in conn.execute(
                    "SELECT id, line FROM point WHERE id > ? ORDER BY id", (last,)):
                last, skip = _id, 1
                if isinstance(line, bytes):
                    found[_id] = line
            return failures
        except sqlite3.DatabaseError:
            # a damaged page: step over it, further each time nothing new could be read
            failures += 1
            last += skip
            skip *= 2
    return failures


def _rows(conn: sqlite3.Connection, sql: str) -> list[tuple[Any, ...]]:
    rows: list[tuple[Any, ...]] = []
    with contextlib.suppress(sqlite3.DatabaseError):
        for row in conn.execute(sql):
            rows.append(row)
    return rows


def salvage(aside: Path) -> Salvage:
    """Best effort: points, probe state and counters that can still be read from `aside`."""
    out = Salvage()
    # Raw pages first: opening the file through SQLite may checkpoint and remove its WAL.
    found = scan_points(aside)
    from_pages = len(found)
    try:
        conn = sqlite3.connect(aside, isolation_level=None, timeout=10.0)
    except sqlite3.Error:
        conn = None
    if conn is not None:
        try:
            out.unreadable_regions = _walk_points(conn, found)
            out.state = {k: bytes(v) for k, v in _rows(conn, "SELECT key, value FROM state")
                         if isinstance(k, str) and isinstance(v, bytes)}
            out.counters = {k: v for k, v in _rows(conn, "SELECT name, value FROM counter")
                            if isinstance(k, str) and isinstance(v, int)}
        finally:
            conn.close()
    for _id in sorted(found):
        line = found[_id]
        with contextlib.suppress(LineProtocolError, UnicodeDecodeError):
            out.points.append((line, decode(line)))
    out.from_pages = from_pages
    return out
