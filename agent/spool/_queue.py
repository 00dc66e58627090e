"""The send queues: per-output rows, acks, dead letters and per-output counters.

Functions run inside the caller's transaction; they return counts so the caller can keep its
in-memory mirrors right only after the commit.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Sequence

from linkwatch.agent.spool._model import DeadLetter, OutputStats, QueuedBatch

log = logging.getLogger("linkwatch.spool")

DEAD_LETTERS_KEPT = 10_000         # per output; older ones go first


def sync_outputs(conn: sqlite3.Connection, outputs: list[str] | None,
                 now_ns: int) -> dict[str, int]:
    """Match the output table to the configured outputs (name → id, in config order).

    A new output starts with an empty queue; a removed one's queue is dropped (logged).
    `None` leaves the outputs as they are: for readers, which must never drop a queue.
    """
    known = dict(conn.execute("SELECT name, id FROM output ORDER BY id"))
    if outputs is None:
        return known
    conn.execute("BEGIN IMMEDIATE")
    try:
        for name, oid in known.items():
            if name in outputs:
                continue
            n = conn.execute("DELETE FROM queue WHERE output_id = ?", (oid,)).rowcount
            conn.execute("DELETE FROM output WHERE id = ?", (oid,))
            log.warning("output %r is no longer configured: its queue of %d unsent points is "
                        "dropped (the points stay in the local history)", name, n)
        for name in outputs:
            if name not in known:
                conn.execute("INSERT INTO output (name, created_ns) VALUES (?, ?)",
                             (name, now_ns))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    ids = dict(conn.execute("SELECT name, id FROM output"))
    return {name: ids[name] for name in outputs}


def next_batch(conn: sqlite3.Connection, output: str, oid: int, limit: int,
               after_id: int) -> QueuedBatch | None:
    rows = conn.execute(
        "SELECT q.point_id, p.time_ns, p.line FROM queue q JOIN point p ON p.id = q.point_id "
        "WHERE q.output_id = ? AND q.point_id > ? ORDER BY q.point_id LIMIT ?",
        (oid, after_id, limit)).fetchall()
    if not rows:
        return None
    ids, times, lines = zip(*rows, strict=True)
    return QueuedBatch(output, ids, lines, min(times))


def newest_id(conn: sqlite3.Connection, oid: int) -> int | None:
    """The id of the newest point `output` has not acknowledged (None: its queue is empty)."""
    row = conn.execute("SELECT max(point_id) FROM queue WHERE output_id = ?", (oid,)).fetchone()
    newest: int | None = row[0]
    return newest


def queued_before(conn: sqlite3.Connection, oid: int, time_ns: int) -> int:
    """How many points `output` has not acknowledged were collected before `time_ns`."""
    row = conn.execute("SELECT count(*) FROM queue q JOIN point p ON p.id = q.point_id "
                       "WHERE q.output_id = ? AND p.time_ns < ?", (oid, time_ns)).fetchone()
    return int(row[0])


def ack(conn: sqlite3.Connection, oid: int, ids: Sequence[int], now_ns: int | None) -> int:
    """Remove acknowledged points from the queue; returns how many were still queued.

    `now_ns` None: the points left by hand (`spool export --mark-sent`), not through the
    server, so when the output last answered, and its last error, stay as they were.
    """
    if ids and len(ids) == ids[-1] - ids[0] + 1 and list(ids) == sorted(ids):
        # consecutive ids (a whole batch, as the shipper reads them): one range delete
        removed = conn.execute("DELETE FROM queue WHERE output_id = ? AND point_id "
                               "BETWEEN ? AND ?", (oid, ids[0], ids[-1])).rowcount
    else:
        removed = conn.executemany("DELETE FROM queue WHERE output_id = ? AND point_id = ?",
                                   [(oid, i) for i in ids]).rowcount
    if now_ns is None:
        conn.execute("UPDATE output SET sent_total = sent_total + ? WHERE id = ?",
                     (removed, oid))
    else:
        conn.execute("UPDATE output SET sent_total = sent_total + ?, last_send_ok_ns = ?, "
                     "last_error = NULL WHERE id = ?", (removed, now_ns, oid))
    return removed


def dead_letter(conn: sqlite3.Connection, output: str, oid: int, ids: Sequence[int],
                message: str, now_ns: int) -> int:
    """Move rejected points from the queue to the dead letters; returns how many moved."""
    conn.executemany(
        "INSERT INTO dead_letter (output, point_id, time_ns, line, message, at_ns) "
        "SELECT ?, p.id, p.time_ns, p.line, ?, ? FROM queue q JOIN point p "
        "ON p.id = q.point_id WHERE q.output_id = ? AND q.point_id = ?",
        [(output, message, now_ns, oid, i) for i in ids])
    removed = conn.executemany("DELETE FROM queue WHERE output_id = ? AND point_id = ?",
                               [(oid, i) for i in ids]).rowcount
    conn.execute("UPDATE output SET dead_letters = dead_letters + ? WHERE id = ?",
                 (removed, oid))
    conn.execute("DELETE FROM dead_letter WHERE output = ? AND id <= (SELECT id FROM "
                 "dead_letter WHERE output = ? ORDER BY id DESC LIMIT 1 OFFSET ?)",
                 (output, output, DEAD_LETTERS_KEPT))
    return removed


def record_send_error(conn: sqlite3.Connection, oid: int, message: str) -> None:
    conn.execute("UPDATE output SET send_errors = send_errors + 1, last_error = ? WHERE id = ?",
                 (message, oid))


def dead_letters(conn: sqlite3.Connection, output: str | None, limit: int) -> list[DeadLetter]:
    where, args = ("WHERE output = ?", (output,)) if output is not None else ("", ())
    rows = conn.execute(
        "SELECT output, point_id, time_ns, line, message, at_ns FROM dead_letter "
        f"{where} ORDER BY id DESC LIMIT ?", (*args, limit)).fetchall()
    return [DeadLetter(o, p, t, bytes(line), m, a) for o, p, t, line, m, a in rows]


def output_stats(conn: sqlite3.Connection, output: str, oid: int, queued: int) -> OutputStats:
    sent, errors, dropped, dead, ok_ns, err = conn.execute(
        "SELECT sent_total, send_errors, dropped, dead_letters, last_send_ok_ns, last_error "
        "FROM output WHERE id = ?", (oid,)).fetchone()
    oldest = conn.execute(
        "SELECT p.time_ns FROM queue q JOIN point p ON p.id = q.point_id "
        "WHERE q.output_id = ? ORDER BY q.point_id LIMIT 1", (oid,)).fetchone()
    return OutputStats(output, queued, oldest[0] if oldest else None, dead, sent, ok_ns, err,
                       errors, dropped)


def unqueued_clause(output_ids: Sequence[int]) -> str:
    """SQL condition on `point`: no output still needs this point."""
    if not output_ids:
        return "1"
    ids = ",".join(str(int(i)) for i in output_ids)
    return (f"NOT EXISTS (SELECT 1 FROM queue WHERE output_id IN ({ids}) "
            "AND point_id = point.id)")
