"""What the spool hands out: batches to send, dead letters and statistics."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class QueuedBatch:
    """Points an output has not yet acknowledged, oldest first."""

    output: str
    ids: tuple[int, ...]          # point ids, oldest first
    lines: tuple[bytes, ...]      # line protocol, one per id, no trailing newline
    oldest_ns: int                # collection time of the oldest point

    @property
    def body(self) -> bytes:
        """The lines joined for one write request."""
        return b"\n".join(self.lines)


@dataclass(frozen=True)
class DeadLetter:
    """A point a server rejected (HTTP 400), kept with the server's message."""

    output: str
    point_id: int
    time_ns: int                  # collection time
    line: bytes
    message: str
    at_ns: int                    # when it was rejected


@dataclass(frozen=True)
class OutputStats:
    output: str
    queued: int                   # points waiting for this output
    oldest_unsent_ns: int | None  # collection time of the first point in its queue
    dead_letters: int             # points ever rejected by the server (durable count)
    sent_total: int               # points ever acknowledged (durable count)
    last_send_ok_ns: int | None   # when the last ack came
    last_error: str | None        # the last send error since the last ack
    send_errors: int = 0          # failed send attempts (durable count)
    dropped: int = 0              # points evicted from this queue unsent (durable count)


@dataclass(frozen=True)
class SpoolStats:
    path: Path
    file_bytes: int               # database file plus its write-ahead log on disk
    rows: int                     # points held: queued for some output, or history
    history_rows: int             # of those, points every output has acknowledged
    collected_total: int          # points ever committed (durable count)
    dropped_total: int            # points evicted unsent, or lost while the disk was full
    outputs: tuple[OutputStats, ...]
    disk_full: bool               # the last write found the disk full; samples wait in memory
    buffered: int = 0             # samples waiting in memory for the disk
