"""The spool: the agent's only storage, SQLite in WAL mode on local disk.

    spool = Spool.open(Path("var/spool.db"), max_size=256 * 2**20, history_s=30 * 86400,
                       outputs=["http://127.0.0.1:8086"])
    spool.append(samples)                        # committed (fsynced) on return
    batch = spool.next_batch("http://127.0.0.1:8086", 5000)
    ...send batch.body...
    spool.ack(batch.output, batch.ids)           # or dead_letter(...) on a 400

What it holds
    point        every committed sample, as the line protocol it will be sent as (encoded
                 once, at append: sending never re-encodes), with its collection time and
                 measurement as columns for the history index.
    queue        one (output, point) row per point an output has not acknowledged. A point
                 appended is queued for every output configured at that moment. Delivery is
                 at-least-once: a row leaves only on `ack` (2xx) or `dead_letter` (400).
    latest       the newest line per series, so `status --local` reads one row per series.
    dead_letter  points a server rejected, with its message (the newest 10,000 per output).
    state        key → bytes for probes (collector.sample.StateStore).
    counter, output   durable counters: collected_total, dropped_total; per output
                 sent_total, send_errors, dropped, dead_letters, last_send_ok, last_error
                 (cleared by the next ack). They feed the `linkwatch` self-measurement.

Ordering and ids
    Point ids are AUTOINCREMENT: monotonic, never reused, even after every row was deleted.
    Queues are read in id (insertion) order, not time order, so a wall-clock step back never
    reorders the queue. The same sample appended twice is stored twice (no de-duplication):
    InfluxDB keeps one value per series and timestamp, so a resend is harmless.

History
    Sent points stay as local history until they are older than `history_s` (by collection
    time); `prune()` drops them, but never a point some output still needs. `history()`
    yields samples with since_ns <= time < until_ns, by time. Lines are decoded on read
    (agent.datamodel.lineprotocol.decode); only measurement and time are columns.

Size cap (see _eviction)
    Used bytes — (page_count - freelist_count) × page_size, plus a write-ahead log kept under
    max_size/16 (at most 4MiB) by checkpoints — stay under `max_size`. When an append would
    pass 98% of the database's share, room is made down to 95%: sent history oldest-first,
    then dead letters, then the OLDEST UNSENT points, each counted exactly in the durable
    `dropped` counters (spool-wide and per output). One WARNING when dropping unsent points
    starts, one INFO with the count when the queues have drained to half of what filled
    the spool. Removing an output from the config drops its queue (logged, not counted as
    dropped: nothing was lost for lack of room).

Disk full
    SQLITE_FULL or an I/O error on a file system with no room: `append` does not raise; the
    samples wait in memory (at most `memory_buffer`, the oldest lost first and counted as
    dropped), `stats().disk_full` is set, one ERROR is logged, and every later append
    retries; an INFO says when the disk had room again. Acks that cannot be written are not
    recorded (the points are sent again); probe state waits in memory.

Damaged file
    At open, a file that is not a database or fails `PRAGMA quick_check` is moved to
    `<name>.corrupt-<UTC timestamp>` (ERROR log naming both paths), the point table is read
    back row by row as far as it can be, and a fresh spool starts with those points queued
    for every output (and the probe state and counters that could be read).

Threads
    One connection. The agent calls the spool from its asyncio loop thread only; the spool
    is not safe for concurrent use from several threads. Each write is a short transaction
    ending in an fsync (a few ms), acceptable on the loop. Other processes (the CLI) may
    open the same file: SQLite's locks serialize them (10 s busy timeout).

Alerts (version 2 of the schema)
    alert        each alert's decided state; notification: the outbox, a message committed
                 before it is sent (`record_alerts` writes both with the `alert` points in
                 one transaction). See agent/spool/_alerts.py and docs/alerts.md.
"""

# Re-exported names (the `as` form marks them public for linters).
from linkwatch.agent.spool._config import open_spool as open_spool
from linkwatch.agent.spool._eviction import SizeBudget as SizeBudget
from linkwatch.agent.spool._model import AlertRecord as AlertRecord
from linkwatch.agent.spool._model import ChannelStats as ChannelStats
from linkwatch.agent.spool._model import DeadLetter as DeadLetter
from linkwatch.agent.spool._model import NewNotification as NewNotification
from linkwatch.agent.spool._model import Notification as Notification
from linkwatch.agent.spool._model import OutputStats as OutputStats
from linkwatch.agent.spool._model import QueuedBatch as QueuedBatch
from linkwatch.agent.spool._model import SpoolStats as SpoolStats
from linkwatch.agent.spool._schema import SchemaError as SchemaError
from linkwatch.agent.spool._spool import DiskFull as DiskFull
from linkwatch.agent.spool._spool import Spool as Spool
