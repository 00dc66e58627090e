"""The alerts' tables: `alert` (each alert's decided state) and `notification` (the outbox).

Functions run inside the caller's transaction unless they say otherwise. Statuses of a
notification: queued → handed (the send passed its point of no return) → sent; a failure
before or at the server puts it back to queued with its error and next try; `digested`
rows went out inside a digest row; `unconfirmed` rows were handed when the agent stopped.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence

from linkwatch.agent.spool._model import (
    AlertRecord,
    ChannelStats,
    NewNotification,
    Notification,
)

_NOTIFICATION = ("id, channel, recipient, dedupe_key, alert_key, kind, created_ns, event, "
                 "status, attempts, last_error, next_ns")


def alerts(conn: sqlite3.Connection) -> list[AlertRecord]:
    rows = conn.execute("SELECT key, rule, severity, site, state, notified, since_ns, "
                        "changed_ns, detail FROM alert ORDER BY key").fetchall()
    return [AlertRecord(*row) for row in rows]


def write(conn: sqlite3.Connection, records: Iterable[AlertRecord],
          notifications: Iterable[NewNotification]) -> None:
    conn.executemany(
        "INSERT OR REPLACE INTO alert (key, rule, severity, site, state, notified, since_ns, "
        "changed_ns, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [(r.key, r.rule, r.severity, r.site, r.state, r.notified, r.since_ns, r.changed_ns,
          r.detail) for r in records])
    conn.executemany(
        "INSERT OR IGNORE INTO notification (channel, recipient, dedupe_key, alert_key, kind, "
        "created_ns, event, status, next_ns) VALUES (?, ?, ?, ?, ?, ?, ?, 'queued', ?)",
        [(n.channel, n.recipient, n.dedupe_key, n.alert_key, n.kind, n.created_ns, n.event,
          n.created_ns) for n in notifications])


def waiting(conn: sqlite3.Connection, channel: str) -> list[Notification]:
    """The channel's queued notifications, oldest first (whatever their next try)."""
    rows = conn.execute(f"SELECT {_NOTIFICATION} FROM notification WHERE channel = ? AND "
                        "status = 'queued' ORDER BY id", (channel,)).fetchall()
    return [Notification(*row) for row in rows]


def hand(conn: sqlite3.Connection, ids: Sequence[int], now_ns: int) -> None:
    conn.executemany("UPDATE notification SET status = 'handed', handed_ns = ? WHERE id = ?",
                     [(now_ns, i) for i in ids])


def sent(conn: sqlite3.Connection, ids: Sequence[int], now_ns: int) -> None:
    conn.executemany("UPDATE notification SET status = 'sent', done_ns = ?, attempts = "
                     "attempts + 1, last_error = NULL WHERE id = ?",
                     [(now_ns, i) for i in ids])


def failed(conn: sqlite3.Connection, ids: Sequence[int], error: str, next_ns: int) -> None:
    conn.executemany("UPDATE notification SET status = 'queued', handed_ns = NULL, "
                     "attempts = attempts + 1, last_error = ?, next_ns = ? WHERE id = ?",
                     [(error, next_ns, i) for i in ids])


def reject(conn: sqlite3.Connection, ids: Sequence[int], error: str, now_ns: int) -> None:
    """Never to be sent: the channel cannot make a message of it (kept with the reason)."""
    conn.executemany("UPDATE notification SET status = 'rejected', handed_ns = NULL, "
                     "attempts = attempts + 1, last_error = ?, done_ns = ? WHERE id = ?",
                     [(error, now_ns, i) for i in ids])


def digest(conn: sqlite3.Connection, ids: Sequence[int], into: NewNotification) -> int:
    """Replace the queued `ids` by one new notification; returns its id."""
    cursor = conn.execute(
        "INSERT INTO notification (channel, recipient, dedupe_key, alert_key, kind, "
        "created_ns, event, status, next_ns) VALUES (?, ?, ?, ?, ?, ?, ?, 'queued', ?)",
        (into.channel, into.recipient, into.dedupe_key, into.alert_key, into.kind,
         into.created_ns, into.event, into.created_ns))
    new_id = int(cursor.lastrowid or 0)
    conn.executemany("UPDATE notification SET status = 'digested', digest_id = ?, done_ns = ? "
                     "WHERE id = ? AND status = 'queued'",
                     [(new_id, into.created_ns, i) for i in ids])
    return new_id


def sent_since(conn: sqlite3.Connection, channel: str, since_ns: int) -> int:
    """Messages the channel delivered (or may have: handed, unconfirmed) since `since_ns`."""
    (found,) = conn.execute("SELECT count(*) FROM notification WHERE channel = ? AND status "
                            "IN ('sent', 'handed', 'unconfirmed') AND coalesce(done_ns, "
                            "handed_ns) >= ?", (channel, since_ns)).fetchone()
    return int(found)


def recover(conn: sqlite3.Connection, person_channels: Iterable[str]) -> tuple[int, int]:
    """After a stop: notifications handed to a channel read by people are `unconfirmed`
    (they may have gone out, so they are never sent again); the others are queued again
    (their receivers take the dedupe key). Returns (unconfirmed, queued again)."""
    people = list(person_channels)
    marks = ",".join("?" * len(people))
    unconfirmed = conn.execute(
        "UPDATE notification SET status = 'unconfirmed', done_ns = handed_ns WHERE status = "
        f"'handed' AND channel IN ({marks})", people).rowcount if people else 0
    again = conn.execute("UPDATE notification SET status = 'queued', handed_ns = NULL WHERE "
                         "status = 'handed'").rowcount
    return unconfirmed, again


def last_created_ns(conn: sqlite3.Connection, alert_key: str, channel: str) -> int | None:
    """When the newest notification about `alert_key` was queued for `channel`."""
    (found,) = conn.execute("SELECT max(created_ns) FROM notification WHERE alert_key = ? AND "
                            "channel = ?", (alert_key, channel)).fetchone()
    return None if found is None else int(found)


def channel_stats(conn: sqlite3.Connection) -> list[ChannelStats]:
    rows = conn.execute(
        "SELECT channel, "
        "sum(status IN ('queued', 'handed')), "
        "min(CASE WHEN status IN ('queued', 'handed') THEN created_ns END), "
        "sum(status = 'sent'), "
        "sum(attempts) - sum(status = 'sent'), "
        "max(CASE WHEN status = 'sent' THEN done_ns END), "
        "sum(status = 'unconfirmed') "
        "FROM notification GROUP BY channel ORDER BY channel").fetchall()
    found = []
    for channel, undelivered, oldest, sent_n, failures, last_ok, unconfirmed in rows:
        error = conn.execute(
            "SELECT last_error FROM notification WHERE channel = ? AND status IN ('queued', "
            "'rejected') AND last_error IS NOT NULL ORDER BY id DESC LIMIT 1",
            (channel,)).fetchone()
        found.append(ChannelStats(channel, int(undelivered or 0), oldest, int(sent_n or 0),
                                  int(failures or 0), last_ok, error[0] if error else None,
                                  int(unconfirmed or 0)))
    return found


def prune(conn: sqlite3.Connection, cutoff_ns: int) -> int:
    """Delete notifications finished before `cutoff_ns`, and resolved alerts changed
    before it; returns how many notifications went."""
    removed = conn.execute("DELETE FROM notification WHERE status IN ('sent', 'digested', "
                           "'unconfirmed', 'rejected') AND done_ns < ?",
                           (cutoff_ns,)).rowcount
    conn.execute("DELETE FROM alert WHERE state = 'ok' AND changed_ns < ?", (cutoff_ns,))
    return removed
