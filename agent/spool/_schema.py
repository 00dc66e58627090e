"""The spool's tables, and how a connection to them is opened and checked."""

from __future__ import annotations

import sqlite3
import urllib.parse
from pathlib import Path

SCHEMA_VERSION = 2

# point:       every committed sample as line protocol; id is AUTOINCREMENT so ids never go
#              back, even after every row was deleted (a sender's `after_id` stays valid).
# queue:       (output, point) pairs not yet acknowledged; clustered by output then id, so a
#              batch is one range read and an eviction one range delete.
# latest:      the newest line per series (`measurement,tags`), for `status --local`.
# output:      one row per configured output, with its durable counters.
# counter:     spool-wide durable counters (collected_total, dropped_total).
# alert, notification: the alerts' state and their outbox (see _MIGRATIONS, version 2).
_DDL = """
CREATE TABLE point (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    time_ns INTEGER NOT NULL,
    measurement TEXT NOT NULL,
    line BLOB NOT NULL
);
CREATE INDEX point_by_time ON point (measurement, time_ns);
CREATE TABLE output (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    created_ns INTEGER NOT NULL,
    sent_total INTEGER NOT NULL DEFAULT 0,
    send_errors INTEGER NOT NULL DEFAULT 0,
    dropped INTEGER NOT NULL DEFAULT 0,
    dead_letters INTEGER NOT NULL DEFAULT 0,
    last_send_ok_ns INTEGER,
    last_error TEXT
);
CREATE TABLE queue (
    output_id INTEGER NOT NULL,
    point_id INTEGER NOT NULL,
    PRIMARY KEY (output_id, point_id)
) WITHOUT ROWID;
CREATE TABLE dead_letter (
    id INTEGER PRIMARY KEY,
    output TEXT NOT NULL,
    point_id INTEGER NOT NULL,
    time_ns INTEGER NOT NULL,
    line BLOB NOT NULL,
    message TEXT NOT NULL,
    at_ns INTEGER NOT NULL
);
CREATE TABLE latest (
    series BLOB PRIMARY KEY,
    measurement TEXT NOT NULL,
    time_ns INTEGER NOT NULL,
    line BLOB NOT NULL
) WITHOUT ROWID;
CREATE INDEX latest_by_measurement ON latest (measurement);
CREATE TABLE state (key TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE counter (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
INSERT INTO counter (name, value) VALUES ('collected_total', 0), ('dropped_total', 0);
"""

# How a file of an older version becomes the current one: the statements that take version
# N to N + 1, run in one transaction with the version bump. A new table or index is a new
# entry here (and in nothing else: a fresh file runs _DDL then every migration), so an
# agent upgraded in place keeps its queue. A file newer than this code is never touched.
#
# 2: alert       one row per alert the agent has decided on (rule + subject): its state,
#                what people were last told, and the event data of its last change.
#    notification  the outbox: one row per message for one channel and recipient (a chat,
#                a phone number; "" where one request reaches them all), committed before it is
#                sent; `handed_ns` is set just before the point of no return of a send, so
#                after a crash a message to people that may have gone out is not sent again.
_MIGRATIONS: dict[int, str] = {
    2: """
CREATE TABLE alert (
    key TEXT PRIMARY KEY,
    rule TEXT NOT NULL,
    severity TEXT NOT NULL,
    site TEXT NOT NULL,
    state TEXT NOT NULL,
    notified TEXT NOT NULL,
    since_ns INTEGER NOT NULL,
    changed_ns INTEGER NOT NULL,
    detail TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE notification (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    channel TEXT NOT NULL,
    recipient TEXT NOT NULL,
    dedupe_key TEXT NOT NULL,
    alert_key TEXT,
    kind TEXT NOT NULL,
    created_ns INTEGER NOT NULL,
    event TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_ns INTEGER NOT NULL,
    handed_ns INTEGER,
    done_ns INTEGER,
    last_error TEXT,
    digest_id INTEGER,
    UNIQUE (channel, recipient, dedupe_key)
);
CREATE INDEX notification_waiting ON notification (channel, status, next_ns);
CREATE INDEX notification_of_alert ON notification (alert_key, channel);
""",
}


class SchemaError(Exception):
    """The file is a valid SQLite database, but not a spool this version can use."""


def connect(path: Path, *, read_only: bool = False) -> sqlite3.Connection:
    """Open (or create) the database at `path` in WAL mode with fsync on every commit.

    Autocommit mode: the spool opens its own `BEGIN IMMEDIATE` transactions. `read_only`
    opens an existing file with SQLite's `mode=ro`, which needs read access to the file
    and to its -wal and -shm files (the agent keeps them while it runs), never write access.
    """
    if read_only:
        return _connect_read_only(path)
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=10.0)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        # FULL: the WAL is fsynced at each commit, so a committed sample survives power loss
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA foreign_keys=OFF")
        conn.execute("PRAGMA temp_store=MEMORY")
    except sqlite3.Error:
        conn.close()
        raise
    return conn


def _connect_read_only(path: Path) -> sqlite3.Connection:
    uri = f"file:{urllib.parse.quote(str(path))}"
    conn = sqlite3.connect(f"{uri}?mode=ro", uri=True, isolation_level=None,
                           check_same_thread=False, timeout=10.0)
    try:
        conn.execute("PRAGMA user_version").fetchone()
        return conn
    except sqlite3.OperationalError:
        conn.close()
        # A stopped agent leaves no -wal or -shm, and a reader who may not write the
        # directory cannot create the -shm SQLite wants for a WAL file. With no -wal, no
        # writer has the file open: it can be read as an unchanging file.
        if path.with_name(path.name + "-wal").exists():
            raise
    return sqlite3.connect(f"{uri}?immutable=1", uri=True, isolation_level=None,
                           check_same_thread=False, timeout=10.0)


def quick_check(conn: sqlite3.Connection) -> str | None:
    """None when the file passes `PRAGMA quick_check`, else what SQLite found wrong."""
    rows = [r[0] for r in conn.execute("PRAGMA quick_check(5)")]
    return None if rows == ["ok"] else "; ".join(str(r) for r in rows)


def check_schema(conn: sqlite3.Connection, path: Path) -> None:
    """Refuse a file that is not a spool of this schema version (read-only: never creates)."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version != SCHEMA_VERSION:
        raise SchemaError(
            f"{path}: spool schema version {version}, this linkwatch reads version "
            f"{SCHEMA_VERSION}; run the linkwatch version the agent runs")


def ensure_schema(conn: sqlite3.Connection, path: Path) -> None:
    """Create the tables in an empty file, bring an older version up to date (_MIGRATIONS);
    refuse a file written by a newer version."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version == SCHEMA_VERSION:
        return
    tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
    if version == 0 and tables == 0:
        _run(conn, _DDL, 1)
        version = 1
    if 1 <= version < SCHEMA_VERSION:
        for target in range(version + 1, SCHEMA_VERSION + 1):
            _run(conn, _MIGRATIONS[target], target)
        return
    raise SchemaError(
        f"{path}: spool schema version {version}, this linkwatch reads version "
        f"{SCHEMA_VERSION}; move the file away (its points are lost) or run the matching "
        "linkwatch version to drain it")


def _run(conn: sqlite3.Connection, ddl: str, version: int) -> None:
    """`ddl` and the bump to `version`, in one transaction."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        for statement in ddl.split(";"):
            if statement.strip():
                conn.execute(statement)
        conn.execute(f"PRAGMA user_version={version}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
