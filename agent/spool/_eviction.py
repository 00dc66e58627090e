"""The size cap: how many bytes the spool may use, and what goes first when it is full.

Used bytes are `(page_count - freelist_count) * page_size` of the database plus its write-ahead
log. Freed pages are reused before the file grows, so keeping used pages under the budget
keeps the file under it too; `PRAGMA max_page_count` is the hard stop behind that.

Order of eviction: sent history oldest-first, then dead letters oldest-first, then the oldest
unsent points. By the time unsent points go, every point left is queued for some output, so
they leave as an id prefix (`id <= X`), a range delete on every queue; what left each queue
is counted in the same transaction, so the durable `dropped` counters are exact.
Each step is its own small transaction, so the write-ahead log stays within its allowance.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field

from linkwatch.agent.spool._queue import unqueued_clause

MIN_SIZE = 2**20


@dataclass(frozen=True)
class SizeBudget:
    """Byte limits derived from the configured `max_size`."""

    max_size: int
    page_size: int
    wal_bytes: int    # checkpoint when the WAL passes this; it is truncated back to it after
    db_limit: int     # the database file never grows past this (max_page_count)
    high_water: int   # an append that would pass this makes room first ...
    low_water: int    # ... down to this, so the next appends find free pages

    @classmethod
    def for_size(cls, max_size: int, page_size: int) -> SizeBudget:
        if max_size < MIN_SIZE:
            raise ValueError(f"spool max_size {max_size} bytes is below the minimum of 1MiB; "
                             "set agent.spool.max_size to 1MiB or more")
        wal_bytes = min(max(max_size // 16, 64 * 1024), 4 * 2**20)
        # The WAL may pass its checkpoint threshold by one transaction: allow twice that.
        db_limit = (max_size - 2 * wal_bytes) // page_size * page_size
        high = db_limit - max(db_limit // 50, 8 * page_size)
        low = db_limit - max(db_limit // 20, 16 * page_size)
        return cls(max_size, page_size, wal_bytes, db_limit, high, low)


def used_bytes(conn: sqlite3.Connection, page_size: int) -> int:
    """Bytes of the database in use (pages not on the free list)."""
    pages: int = conn.execute("PRAGMA page_count").fetchone()[0]
    free: int = conn.execute("PRAGMA freelist_count").fetchone()[0]
    return (pages - free) * page_size


@dataclass
class Eviction:
    """What one round of making room removed."""

    history: int = 0                  # sent points dropped (every output had them)
    dead_letters: int = 0
    unsent: int = 0                   # points dropped while still queued somewhere
    per_output: dict[int, int] = field(default_factory=dict)   # output id → queue rows dropped

    def add_unsent(self, points: int, per_output: Mapping[int, int]) -> None:
        self.unsent += points
        for oid, n in per_output.items():
            self.per_output[oid] = self.per_output.get(oid, 0) + n


def make_room(conn: sqlite3.Connection, budget: SizeBudget, *, target: int,
              output_ids: list[int], history_possible: bool, rows: int,
              transaction: Callable[[], AbstractContextManager[object]],
              after_step: Callable[[], None]) -> Eviction:
    """Remove rows, oldest first, until used bytes are at or below `target`.

    `transaction()` returns a context manager for one write transaction; `after_step` runs
    after each committed step (the caller checkpoints the WAL there).
    """
    ev = Eviction()
    chunk_bytes = max(budget.wal_bytes // 2, 16 * budget.page_size)

    def over() -> int:
        return used_bytes(conn, budget.page_size) - target

    def chunk_rows(excess: int) -> int:
        per_row = max(used_bytes(conn, budget.page_size) // max(rows, 1), 64)
        return max(16, min(excess, chunk_bytes) // per_row + 1)

    unqueued = unqueued_clause(output_ids)
    while history_possible and (excess := over()) > 0:
        n = chunk_rows(excess)
        with transaction():
            done = conn.execute(
                f"DELETE FROM point WHERE id IN (SELECT id FROM point WHERE {unqueued} "
                "ORDER BY id LIMIT ?)", (n,)).rowcount
        rows -= done
        ev.history += done
        after_step()
        if done < n:
            break
    while (excess := over()) > 0:
        with transaction():
            done = conn.execute(
                "DELETE FROM dead_letter WHERE id IN (SELECT id FROM dead_letter ORDER BY id "
                "LIMIT ?)", (max(16, excess // 256),)).rowcount
        ev.dead_letters += done
        after_step()
        if not done:
            break
    while (excess := over()) > 0 and rows > 0:
        n = chunk_rows(excess)
        with transaction():
            top = conn.execute("SELECT id FROM point ORDER BY id LIMIT 1 OFFSET ?",
                               (n - 1,)).fetchone()
            if top is None:
                top = conn.execute("SELECT max(id) FROM point").fetchone()
            last = top[0]
            if len(output_ids) > 1:
                unsent = conn.execute(
                    f"SELECT count(*) FROM point WHERE id <= ? AND NOT ({unqueued})",
                    (last,)).fetchone()[0]
            per_output = {}
            for oid in output_ids:
                cnt = conn.execute("DELETE FROM queue WHERE output_id = ? AND point_id <= ?",
                                   (oid, last)).rowcount
                if cnt:
                    per_output[oid] = cnt
            points = conn.execute("DELETE FROM point WHERE id <= ?", (last,)).rowcount
            if len(output_ids) == 1:
                unsent = per_output.get(output_ids[0], 0)
            elif not output_ids:
                unsent = 0
            conn.execute("UPDATE counter SET value = value + ? WHERE name = 'dropped_total'",
                         (unsent,))
            for oid, cnt in per_output.items():
                conn.execute("UPDATE output SET dropped = dropped + ? WHERE id = ?", (cnt, oid))
        rows -= points
        ev.history += points - unsent
        ev.add_unsent(unsent, per_output)
        after_step()
    return ev
