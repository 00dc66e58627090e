"""`linkwatch spool status`: what each output's queue holds, as rows for agent.table."""

from __future__ import annotations

import datetime as dt
import time

from agent.spool import Spool

COLUMNS = ("output", "queued", "oldest_unsent_age_s", "sent", "dropped", "dead_letters",
           "send_errors", "last_send_ok", "last_error")


def spool_rows(spool: Spool, now_ns: int | None = None) -> tuple[list[dict], list[str]]:
    """One row per output, and notes on the spool as a whole (size, disk full)."""
    now_ns = time.time_ns() if now_ns is None else now_ns
    stats = spool.stats()
    rows = [
        {
            "output": o.output,
            "queued": o.queued,
            "oldest_unsent_age_s": None if o.oldest_unsent_ns is None
            else round((now_ns - o.oldest_unsent_ns) / 1e9, 1),
            "sent": o.sent_total,
            "dropped": o.dropped,
            "dead_letters": o.dead_letters,
            "send_errors": o.send_errors,
            "last_send_ok": _iso(o.last_send_ok_ns),
            "last_error": o.last_error,
        }
        for o in stats.outputs
    ]
    notes = [
        f"spool {stats.path}: {stats.file_bytes / 2**20:.1f} MiB, {stats.rows} points "
        f"({stats.history_rows} history), {stats.collected_total} collected, "
        f"{stats.dropped_total} dropped unsent"
    ]
    if not stats.outputs:
        notes.append("no outputs configured: points stay here as local history")
    if stats.disk_full:
        notes.append(f"DISK FULL: {stats.buffered} samples wait in memory until space returns")
    for letter in spool.dead_letters(limit=5):
        notes.append(f"dead letter for {letter.output}: {letter.message}")
    return rows, notes


def _iso(ns: int | None) -> str | None:
    if ns is None:
        return None
    return dt.datetime.fromtimestamp(ns / 1e9, dt.UTC).isoformat(timespec="seconds")
