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


@dataclass(frozen=True)
class AlertRecord:
    """An alert as the agent last decided on it (table `alert`). `detail` is the JSON of
    the event data of its last change; agent.alerts gives it its meaning."""

    key: str                      # rule and subject, e.g. "target_down|ping/minh-chau-router"
    rule: str
    severity: str
    site: str
    state: str                    # ok, firing, suppressed, flapping
    notified: str                 # what people were last told: none, firing, flapping
    since_ns: int                 # when the condition began
    changed_ns: int               # when this state was decided
    detail: str


@dataclass(frozen=True)
class NewNotification:
    """A message for one channel (and one of its recipients), to be committed to the outbox."""

    channel: str
    recipient: str                # a chat id or phone number; "" for the whole channel
    dedupe_key: str               # unique per channel and recipient: never queued twice
    alert_key: str | None         # None for digests and test messages
    kind: str                     # alert, repeat, digest, test
    created_ns: int
    event: str                    # JSON event data


@dataclass(frozen=True)
class Notification:
    """A row of the outbox."""

    id: int
    channel: str
    recipient: str
    dedupe_key: str
    alert_key: str | None
    kind: str
    created_ns: int
    event: str
    status: str                   # queued, handed, sent, digested, unconfirmed, rejected
    attempts: int
    last_error: str | None
    next_ns: int                  # not tried before this


@dataclass(frozen=True)
class ChannelStats:
    """One channel's outbox, for `spool status` and the systemd STATUS line."""

    channel: str
    undelivered: int              # queued, or handed and not yet confirmed
    oldest_undelivered_ns: int | None
    sent: int                     # rows sent (digests count once; their parts as digested)
    failed_attempts: int          # attempts that did not deliver
    last_sent_ns: int | None
    last_error: str | None
    unconfirmed: int = 0          # handed when the agent stopped: maybe sent, never resent
