"""The Spool: one SQLite connection and the operations the agent runs on it."""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from linkwatch.agent.datamodel.lineprotocol import LineProtocolError, encode_fields, encode_series
from linkwatch.agent.spool import _alerts, _history, _queue
from linkwatch.agent.spool._eviction import Eviction, SizeBudget, make_room, used_bytes
from linkwatch.agent.spool._model import (
    AlertRecord,
    ChannelStats,
    DeadLetter,
    NewNotification,
    Notification,
    QueuedBatch,
    SpoolStats,
)
from linkwatch.agent.spool._salvage import Salvage, move_aside, problem_with, salvage
from linkwatch.agent.spool._schema import (
    connect,
    connect_read_only,
    ensure_schema,
    require_schema,
)
from linkwatch.collector.sample import Sample

_T = TypeVar("_T")

log = logging.getLogger("linkwatch.spool")

_SQLITE_FULL = 13
_SQLITE_IOERR = 10
_MEMORY_BUFFER = 50_000             # samples held in memory while the disk is full


@dataclass(frozen=True, slots=True)
class _Encoded:
    time_ns: int
    measurement: str
    series: bytes
    line: bytes


class DiskFull(Exception):
    """The file system has no room for the write (not the spool's own size cap)."""


def _encode(sample: Sample) -> _Encoded | None:
    try:
        series = encode_series(sample.measurement, sample.tags)
        line = b"%s %s %d" % (series, encode_fields(sample.fields), sample.time_ns)
    except LineProtocolError as e:
        log.error("sample of %r at %d cannot be written as line protocol and is left out: %s",
                  sample.measurement, sample.time_ns, e)
        return None
    return _Encoded(sample.time_ns, sample.measurement, series, line)


def _create_private(path: Path, mode: int = 0o600) -> None:
    """A new spool file readable by its owner only (or with `mode`, by its group too),
    whoever creates it and whatever the umask allows beyond that (SQLite gives its -wal and
    -shm files the same mode)."""
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode))


def _is_disk_full(e: sqlite3.Error) -> bool:
    code = getattr(e, "sqlite_errorcode", None)
    # ENOSPC while writing the WAL surfaces as SQLITE_FULL, or as an I/O error on some paths
    return code is not None and (code & 0xFF) in (_SQLITE_FULL, _SQLITE_IOERR)


class Spool:
    """The agent's durable store; see the package docstring for the design."""

    def __init__(self, conn: sqlite3.Connection, path: Path, budget: SizeBudget,
                 history_s: float, outputs: dict[str, int], time_ns: Callable[[], int],
                 memory_buffer: int, read_only: bool = False) -> None:
        self._conn = conn
        self._path = path
        self._budget = budget
        self._history_ns = int(history_s * 1e9)
        self._outputs = outputs
        self._output_ids = list(outputs.values())
        self._time_ns = time_ns
        self._buffer: deque[_Encoded] = deque()
        self._buffer_limit = memory_buffer
        self._buffer_lost = 0
        self._pending_state: dict[str, bytes] = {}
        self._state_written: dict[str, bytes] = {}
        self._disk_full = False
        self._closed = False
        self._read_only = read_only
        self._evicting = False
        self._evicted_in_episode = 0
        self._rows_at_cap = 0
        self._rows: int = conn.execute("SELECT count(*) FROM point").fetchone()[0]
        queued: dict[int, int] = dict(
            conn.execute("SELECT output_id, count(*) FROM queue GROUP BY output_id"))
        self._queued = {name: queued.get(oid, 0) for name, oid in outputs.items()}

    @property
    def path(self) -> Path:
        """The database file."""
        return self._path

    # ------------------------------------------------------------------------------ opening

    @classmethod
    def open(cls, path: Path, *, max_size: int, history_s: float,
             outputs: Sequence[str] | None,
             time_ns: Callable[[], int] = time.time_ns, memory_buffer: int = _MEMORY_BUFFER,
             check: bool = True, read_only: bool = False,
             group_readable: bool = False) -> Spool:
        """Open or create the spool at `path`; a damaged file is moved aside and salvaged.

        `check=False` skips `PRAGMA quick_check` (a read of the whole file) for short-lived
        readers such as the CLI. `outputs=None` keeps the queues the file has (readers); a
        list makes them match it, dropping the queue of an output no longer listed.
        `read_only` opens an existing spool without changing anything, not even its
        history (a user who may read the file but not write it); raises FileNotFoundError
        when there is none. `group_readable` creates a missing spool 0640 in a 0750
        directory, not 0600 in 0700.
        """
        path = Path(path)
        if read_only:
            return cls._open_read_only(path, max_size=max_size, history_s=history_s,
                                       time_ns=time_ns)
        path.parent.mkdir(mode=0o750 if group_readable else 0o700, parents=True,
                          exist_ok=True)
        rescued: Salvage | None = None
        if path.exists() and check and (problem := problem_with(path)) is not None:
            rescued = salvage(move_aside(path, problem, time_ns()))
        _create_private(path, 0o640 if group_readable else 0o600)
        conn = connect(path)
        try:
            ensure_schema(conn, path)
            page_size = conn.execute("PRAGMA page_size").fetchone()[0]
            budget = SizeBudget.for_size(int(max_size), page_size)
            conn.execute(f"PRAGMA max_page_count={budget.db_limit // page_size}")
            conn.execute(f"PRAGMA wal_autocheckpoint={budget.wal_bytes // page_size}")
            conn.execute(f"PRAGMA journal_size_limit={budget.wal_bytes}")
            wanted = None if outputs is None else list(dict.fromkeys(outputs))
            ids = _queue.sync_outputs(conn, wanted, time_ns())
        except BaseException:
            conn.close()
            raise
        spool = cls(conn, path, budget, history_s, ids, time_ns, memory_buffer)
        if rescued is not None:
            spool._restore(rescued)
        spool.prune()
        return spool

    @classmethod
    def _open_read_only(cls, path: Path, *, max_size: int, history_s: float,
                        time_ns: Callable[[], int]) -> Spool:
        conn = connect_read_only(path)
        try:
            require_schema(conn, path)
            page_size = conn.execute("PRAGMA page_size").fetchone()[0]
            outputs = dict(conn.execute("SELECT name, id FROM output ORDER BY id"))
            spool = cls(conn, path, SizeBudget.for_size(int(max_size), page_size), history_s,
                        outputs, time_ns, 0, read_only=True)
        except BaseException:
            conn.close()
            raise
        return spool

    def _restore(self, rescued: Salvage) -> None:
        points = [_Encoded(s.time_ns, s.measurement, encode_series(s.measurement, s.tags), line)
                  for line, s in rescued.points]
        with self._transaction():
            for key, value in rescued.state.items():
                self._conn.execute("INSERT OR REPLACE INTO state VALUES (?, ?)", (key, value))
            for name in ("collected_total", "dropped_total"):
                if name in rescued.counters:
                    self._conn.execute("UPDATE counter SET value = ? WHERE name = ?",
                                       (rescued.counters[name], name))
        self._write(points, count_collected=False)
        # the damage itself was logged as an error; this is what was saved from it
        log.info("spool %s: %d points read back from the damaged file and queued again "
                  "(%d found by scanning pages, %d damaged regions skipped)", self._path,
                  len(points), rescued.from_pages, rescued.unreadable_regions)

    # --------------------------------------------------------------------------- transactions

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield
            self._conn.execute("COMMIT")
        except BaseException:
            self._state_written = {}
            if self._conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    self._conn.execute("ROLLBACK")
            raise
        # state values stay in memory until the transaction that wrote them has committed
        for key, value in self._state_written.items():
            if self._pending_state.get(key) is value:
                del self._pending_state[key]
        self._state_written = {}

    def _checkpoint_if_large(self) -> None:
        wal = self._path.with_name(self._path.name + "-wal")
        try:
            size = wal.stat().st_size
        except FileNotFoundError:
            return
        if size > self._budget.wal_bytes:
            with contextlib.suppress(sqlite3.OperationalError):
                self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def _free_disk_bytes(self) -> int:
        st = os.statvfs(self._path.parent)
        return st.f_bavail * st.f_frsize

    # --------------------------------------------------------------------------------- append

    def append(self, samples: Sequence[Sample]) -> None:
        """Commit `samples` in one transaction (fsynced: they survive a power cut).

        When the disk is full the samples wait in memory (up to `memory_buffer`, oldest lost
        first and counted as dropped) and go in with the next append that finds room.
        """
        fresh = [e for s in samples if (e := _encode(s)) is not None]
        pending = [*self._buffer, *fresh] if self._buffer else fresh
        if not pending:
            return
        try:
            self._write(pending)
        except DiskFull as e:
            self._hold(fresh, str(e))
            return
        if self._disk_full:
            log.info("spool %s: disk has room again; %d samples held in memory are committed "
                     "(%d lost while it was full)", self._path, len(self._buffer),
                     self._buffer_lost)
        self._buffer.clear()
        self._buffer_lost = 0
        self._disk_full = False

    def _hold(self, fresh: list[_Encoded], message: str) -> None:
        if not self._disk_full:
            log.error("spool %s: cannot write, the disk is full (%s); holding up to %d samples "
                      "in memory until it has room (free space on %s)", self._path, message,
                      self._buffer_limit, self._path.parent)
        self._disk_full = True
        self._buffer.extend(fresh)
        while len(self._buffer) > self._buffer_limit:
            self._buffer.popleft()
            self._buffer_lost += 1

    def _write(self, points: list[_Encoded], *, count_collected: bool = True,
               also: Callable[[sqlite3.Connection], object] | None = None) -> None:
        """Insert `points`, making room first when the size cap is near; `also` writes more
        in the same transaction. Raises DiskFull."""
        need = sum(len(p.line) * 2 + 64 + 24 * len(self._output_ids) for p in points)
        if need > self._budget.low_water // 4 and len(points) > 1:
            # More than the spool holds at once (a bulk load, not a cycle's samples): in
            # parts, so the cap makes room between them instead of refusing the whole.
            half = len(points) // 2
            self._write(points[:half], count_collected=count_collected)
            self._write(points[half:], count_collected=count_collected)
            return
        for attempt in range(2):
            try:
                if used_bytes(self._conn, self._budget.page_size) + need > \
                        self._budget.high_water:
                    self._make_room(self._budget.low_water - need)
                self._insert(points, count_collected, also)
            except sqlite3.OperationalError as e:
                if not _is_disk_full(e):
                    raise
                if self._free_disk_bytes() < need * 4 + 2**20 or attempt == 1:
                    raise DiskFull(str(e)) from e
                # room on the disk, so it was max_page_count: our estimate was short
                need *= 4
                continue
            break
        self._checkpoint_if_large()

    def _insert(self, points: list[_Encoded], count_collected: bool,
                also: Callable[[sqlite3.Connection], object] | None = None) -> None:
        conn = self._conn
        with self._transaction():
            if also is not None:
                also(conn)
            row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'point'").fetchone()
            first = (row[0] if row else 0) + 1
            conn.executemany(
                "INSERT INTO point (id, time_ns, measurement, line) VALUES (?, ?, ?, ?)",
                [(first + i, p.time_ns, p.measurement, p.line) for i, p in enumerate(points)])
            for oid in self._output_ids:
                conn.execute("INSERT INTO queue (output_id, point_id) SELECT ?, id FROM point "
                             "WHERE id >= ?", (oid, first))
            conn.executemany(
                "INSERT INTO latest (series, measurement, time_ns, line) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (series) DO UPDATE SET time_ns = excluded.time_ns, "
                "line = excluded.line WHERE excluded.time_ns >= latest.time_ns",
                [(p.series, p.measurement, p.time_ns, p.line) for p in points])
            if count_collected:
                conn.execute("UPDATE counter SET value = value + ? WHERE name = "
                             "'collected_total'", (len(points),))
            if self._buffer_lost:
                conn.execute("UPDATE counter SET value = value + ? WHERE name = "
                             "'dropped_total'", (self._buffer_lost,))
            self._flush_state()
        self._rows += len(points)
        for name in self._queued:
            self._queued[name] += len(points)

    def _make_room(self, target: int) -> None:
        history_possible = not any(n >= self._rows for n in self._queued.values())
        ev = make_room(self._conn, self._budget, target=target, output_ids=self._output_ids,
                       history_possible=history_possible, rows=self._rows,
                       transaction=self._transaction, after_step=self._checkpoint_if_large)
        self._account(ev)

    def _account(self, ev: Eviction) -> None:
        self._rows -= ev.history + ev.unsent
        names = {oid: name for name, oid in self._outputs.items()}
        for oid, n in ev.per_output.items():
            self._queued[names[oid]] -= n
        if not ev.unsent:
            return
        if not self._evicting:
            queues = ", ".join(f"{name}: {n} queued" for name, n in self._queued.items())
            log.warning("spool %s reached its size cap of %d bytes: dropping the oldest unsent "
                        "points to make room (%s); raise agent.spool.max_size or restore the "
                        "output", self._path, self._budget.max_size, queues)
            self._evicting = True
            self._evicted_in_episode = 0
        self._evicted_in_episode += ev.unsent
        self._rows_at_cap = self._rows

    def _maybe_end_eviction(self) -> None:
        # The episode ends once the queues have drained to half of what filled the spool, so
        # the next fill can drop sent history instead.
        if self._evicting and max(self._queued.values(), default=0) <= self._rows_at_cap // 2:
            log.info("spool %s: eviction ended; %d unsent points were dropped", self._path,
                     self._evicted_in_episode)
            self._evicting = False

    # ----------------------------------------------------------------------------- send queue

    def _oid(self, output: str) -> int:
        try:
            return self._outputs[output]
        except KeyError:
            raise KeyError(f"output {output!r} is not one of the spool's outputs "
                           f"{sorted(self._outputs)}") from None

    def next_batch(self, output: str, limit: int, *, after_id: int = 0) -> QueuedBatch | None:
        """Up to `limit` points `output` has not acknowledged, oldest (lowest id) first."""
        return _queue.next_batch(self._conn, output, self._oid(output), limit, after_id)

    def newest_id(self, output: str) -> int | None:
        """The id of the newest point `output` has not acknowledged; None when none waits.

        The shipper reads it when a replay starts: points after it are the fresh lane.
        """
        return _queue.newest_id(self._conn, self._oid(output))

    def queued_before(self, output: str, time_ns: int) -> int:
        """How many points `output` has not acknowledged were collected before `time_ns`
        (those a server that keeps less than that would drop)."""
        return _queue.queued_before(self._conn, self._oid(output), time_ns)

    def _write_or_log(self, what: str, body: Callable[[], _T]) -> _T | None:
        """Run `body` in a transaction; on a full disk log once and return None."""
        try:
            with self._transaction():
                result = body()
                self._flush_state()
        except sqlite3.OperationalError as e:
            if not _is_disk_full(e):
                raise
            if not self._disk_full:
                log.error("spool %s: cannot record %s, the disk is full (%s)", self._path,
                          what, e)
            self._disk_full = True
            return None
        return result

    def ack(self, output: str, ids: Sequence[int]) -> None:
        """`output` accepted these points: they leave its queue (and stay as history).

        If the disk is full the ack is not recorded and the points are sent again later
        (at-least-once).
        """
        oid = self._oid(output)
        removed = self._write_or_log(f"an ack for {output}", lambda: _queue.ack(
            self._conn, oid, ids, self._time_ns()))
        if removed is not None:
            self._queued[output] -= removed
            self._maybe_end_eviction()

    def mark_carried(self, output: str, ids: Sequence[int]) -> None:
        """These points left by hand (an export file): out of the queue, counted as sent,
        but the output's last answer and last error stay what the server made them."""
        oid = self._oid(output)
        removed = self._write_or_log(f"carried points of {output}", lambda: _queue.ack(
            self._conn, oid, ids, None))
        if removed is not None:
            self._queued[output] -= removed
            self._maybe_end_eviction()

    def dead_letter(self, output: str, ids: Sequence[int], message: str) -> None:
        """The server rejected these points: keep them with its message, out of the queue."""
        oid = self._oid(output)
        removed = self._write_or_log(f"dead letters for {output}", lambda: _queue.dead_letter(
            self._conn, output, oid, ids, message, self._time_ns()))
        if removed is not None:
            self._queued[output] -= removed
            log.warning("output %s rejected %d points: %s (kept as dead letters; see "
                        "`linkwatch spool status`)", output, removed, message)

    def record_send_error(self, output: str, message: str) -> None:
        """A send to `output` failed (the points stay queued)."""
        oid = self._oid(output)
        self._write_or_log(f"a send error for {output}",
                           lambda: _queue.record_send_error(self._conn, oid, message))

    def dead_letters(self, output: str | None = None, limit: int = 100) -> list[DeadLetter]:
        """Rejected points, newest first."""
        return _queue.dead_letters(self._conn, output, limit)

    # -------------------------------------------------------------------------------- history

    def latest(self, measurement: str) -> list[Sample]:
        """The newest sample of each series (measurement + tags) of `measurement`."""
        return _history.latest(self._conn, measurement)

    def history(self, measurement: str, since_ns: int, until_ns: int,
                tags: Mapping[str, str] | None = None, *,
                fields: Iterable[str] | None = None) -> Iterator[Sample]:
        """Samples of `measurement` with since_ns <= time < until_ns whose tags include `tags`.

        `fields` keeps only those fields in each sample: reading is much faster when a caller
        needs two fields of ten. Which points come back does not change.
        """
        return _history.history(self._conn, measurement, since_ns, until_ns, tags,
                                fields=fields)

    def lines(self, measurement: str, since_ns: int, until_ns: int,
              tags: Mapping[str, str] | None = None) -> Iterator[tuple[int, bytes]]:
        """(time, line protocol) of the points `history` would give, not decoded: for a
        reader that decodes only what it needs (agent.query.columns). With `tags`, lines
        not holding them are skipped, but a line may hold them only in a field: compare
        the decoded tags."""
        return _history.lines(self._conn, measurement, since_ns, until_ns, tags)

    def count_between(self, since_ns: int, until_ns: int, measurement: str | None = None
                      ) -> int:
        """How many points (of `measurement`, else of any) were collected in
        since_ns <= time < until_ns."""
        return _history.count_between(self._conn, since_ns, until_ns, measurement)

    def prune(self) -> None:
        """Drop history older than `history_s` that no output still needs."""
        cutoff = self._time_ns() - self._history_ns
        removed = self._write_or_log("pruned history", lambda: _history.prune(
            self._conn, cutoff, _queue.unqueued_clause(self._output_ids)))
        self._write_or_log("pruned notifications", lambda: _alerts.prune(self._conn, cutoff))
        if removed is not None:
            self._rows -= removed
            self._maybe_end_eviction()
            self._checkpoint_if_large()

    # ---------------------------------------------------------------------------------- state

    def get_state(self, key: str) -> bytes | None:
        if key in self._pending_state:
            return self._pending_state[key]
        row = self._conn.execute("SELECT value FROM state WHERE key = ?", (key,)).fetchone()
        return bytes(row[0]) if row else None

    def put_state(self, key: str, value: bytes) -> None:
        """Store probe state durably; while the disk is full it waits in memory."""
        self._pending_state[key] = bytes(value)
        self._write_or_log("probe state", lambda: None)

    def _flush_state(self) -> None:
        if self._pending_state:
            self._state_written = dict(self._pending_state)
            self._conn.executemany("INSERT OR REPLACE INTO state (key, value) VALUES (?, ?)",
                                   list(self._state_written.items()))

    # --------------------------------------------------------------------------------- alerts

    def alerts(self) -> list[AlertRecord]:
        """Every alert's decided state (agent.alerts gives them their meaning)."""
        return _alerts.alerts(self._conn)

    def record_alerts(self, records: Sequence[AlertRecord],
                      notifications: Sequence[NewNotification],
                      samples: Sequence[Sample]) -> None:
        """Commit alert states, their notifications and their `alert` points in one
        transaction: a notification exists only with the state that caused it. Raises
        DiskFull (or sqlite3.Error) when it cannot be written; nothing is then recorded."""
        points = [e for s in samples if (e := _encode(s)) is not None]
        self._write(points, also=lambda conn: _alerts.write(conn, records, notifications))

    def outbox_waiting(self, channel: str) -> list[Notification]:
        """The channel's queued notifications, oldest first."""
        return _alerts.waiting(self._conn, channel)

    def outbox_hand(self, ids: Sequence[int], now_ns: int) -> None:
        """The send of these passes its point of no return now (committed first)."""
        with self._transaction():
            _alerts.hand(self._conn, ids, now_ns)

    def outbox_sent(self, ids: Sequence[int], now_ns: int) -> None:
        with self._transaction():
            _alerts.sent(self._conn, ids, now_ns)

    def outbox_failed(self, ids: Sequence[int], error: str, next_ns: int) -> None:
        """Not delivered: queued again, tried again at `next_ns`."""
        with self._transaction():
            _alerts.failed(self._conn, ids, error, next_ns)

    def outbox_reject(self, ids: Sequence[int], error: str, now_ns: int) -> None:
        """Never to be sent (the channel cannot make a message of it): kept with why."""
        with self._transaction():
            _alerts.reject(self._conn, ids, error, now_ns)

    def outbox_digest(self, ids: Sequence[int], into: NewNotification) -> int:
        """Replace queued notifications by one (a digest); returns its id."""
        with self._transaction():
            return _alerts.digest(self._conn, ids, into)

    def outbox_sent_since(self, channel: str, since_ns: int) -> int:
        return _alerts.sent_since(self._conn, channel, since_ns)

    def outbox_recover(self, person_channels: Iterable[str]) -> tuple[int, int]:
        """After a stop, settle what was handed: see _alerts.recover."""
        with self._transaction():
            return _alerts.recover(self._conn, person_channels)

    def outbox_last_created_ns(self, alert_key: str, channel: str) -> int | None:
        return _alerts.last_created_ns(self._conn, alert_key, channel)

    def channel_stats(self) -> list[ChannelStats]:
        """Per notification channel: undelivered, sent, errors."""
        return _alerts.channel_stats(self._conn)

    # ---------------------------------------------------------------------------------- stats

    def stats(self) -> SpoolStats:
        conn = self._conn
        file_bytes = 0
        for suffix in ("", "-wal"):
            with contextlib.suppress(FileNotFoundError):
                file_bytes += self._path.with_name(self._path.name + suffix).stat().st_size
        counters = dict(conn.execute("SELECT name, value FROM counter"))
        outputs = [_queue.output_stats(conn, name, oid, self._queued[name])
                   for name, oid in self._outputs.items()]
        return SpoolStats(
            path=self._path, file_bytes=file_bytes, rows=self._rows,
            history_rows=self._history_rows(), collected_total=counters["collected_total"],
            dropped_total=counters["dropped_total"] + self._buffer_lost,
            outputs=tuple(outputs), disk_full=self._disk_full, buffered=len(self._buffer))

    def _history_rows(self) -> int:
        if not self._outputs:
            return self._rows
        if len(self._outputs) == 1:
            return self._rows - next(iter(self._queued.values()))
        rows: int = self._conn.execute("SELECT count(*) FROM point WHERE "
                                       + _queue.unqueued_clause(self._output_ids)).fetchone()[0]
        return rows

    def close(self) -> None:
        """Write what waits in memory if the disk has room now, checkpoint, close."""
        if self._closed:
            return
        if self._read_only:
            self._conn.close()
            self._closed = True
            return
        if self._buffer:
            self.append([])
        if self._buffer or self._pending_state:
            log.error("spool %s closed with the disk still full: %d samples and %d state "
                      "values held in memory are lost", self._path, len(self._buffer),
                      len(self._pending_state))
        with contextlib.suppress(sqlite3.Error):
            self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self._conn.close()
        self._closed = True

