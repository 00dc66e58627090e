"""`linkwatch spool status`: what each output's queue holds, and each notification
channel's outbox (rows `notify:<name>`), as rows for agent.cli.table.

Replay rate and ETA come from the spool's durable counters read twice, `sample_s` apart,
and only while an output is sending (an ack in the last minute) with points queued: the
rate is what the server accepted in that window, the ETA the queue divided by how fast it
shrinks (acks minus what was collected meanwhile). A queue that does not shrink has no ETA.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from pathlib import Path
from typing import Any

from linkwatch.agent.spool import Spool, SpoolStats

COLUMNS = ("output", "queued", "oldest_unsent_age_s", "replay_rate_pps", "eta_s", "sent",
           "dropped", "dead_letters", "send_errors", "last_send_ok", "last_error")
# What the table prints as notes under its rows, JSON and CSV hold as keys of every row.
SPOOL_KEYS = ("spool_path", "spool_bytes", "points", "history_points", "collected",
              "dropped_unsent", "disk_full", "disk_free_bytes", "held_in_memory",
              "last_dead_letter")
ALL_COLUMNS = COLUMNS + SPOOL_KEYS


_SENDING_WINDOW_NS = 60 * 10**9
_LOW_DISK_BYTES = 1 << 20          # below this an append of a cycle's samples may not fit


def spool_rows(spool: Spool, now_ns: int | None = None, *, sample_s: float = 1.0,
               tz: dt.tzinfo | None = dt.UTC) -> tuple[list[dict[str, Any]], list[str]]:
    """One row per output (one with `output` null when there is none), each with the
    spool-wide keys too, and the same facts as notes for a table (size, disk full, dead
    letters). Times are ISO 8601 in `tz`."""
    now_ns = time.time_ns() if now_ns is None else now_ns
    stats = spool.stats()
    rates = _rates(spool, stats, now_ns, sample_s)
    free = _free_bytes(stats.path)
    low_disk = not stats.disk_full and free is not None and free < _LOW_DISK_BYTES
    letters = spool.dead_letters(limit=5)
    whole = {
        "spool_path": str(stats.path), "spool_bytes": stats.file_bytes, "points": stats.rows,
        "history_points": stats.history_rows, "collected": stats.collected_total,
        "dropped_unsent": stats.dropped_total, "disk_full": stats.disk_full or low_disk,
        "disk_free_bytes": free, "held_in_memory": stats.buffered,
    }
    rows: list[dict[str, object]] = [
        {
            "output": o.output,
            "queued": o.queued,
            "oldest_unsent_age_s": None if o.oldest_unsent_ns is None
            else round((now_ns - o.oldest_unsent_ns) / 1e9, 1),
            **rates.get(o.output, {"replay_rate_pps": None, "eta_s": None}),
            "sent": o.sent_total,
            "dropped": o.dropped,
            "dead_letters": o.dead_letters,
            "send_errors": o.send_errors,
            "last_send_ok": _iso(o.last_send_ok_ns, tz),
            "last_error": o.last_error,
            **whole,
            "last_dead_letter": next((d.message for d in letters if d.output == o.output),
                                     None),
        }
        for o in stats.outputs
    ] or [{**dict.fromkeys(COLUMNS), **whole, "last_dead_letter": None}]
    channels = spool.channel_stats()
    rows += [
        {
            "output": f"notify:{c.channel}",
            "queued": c.undelivered,
            "oldest_unsent_age_s": None if c.oldest_undelivered_ns is None
            else round((now_ns - c.oldest_undelivered_ns) / 1e9, 1),
            "replay_rate_pps": None, "eta_s": None,
            "sent": c.sent, "dropped": None, "dead_letters": None,
            "send_errors": c.failed_attempts, "last_send_ok": _iso(c.last_sent_ns, tz),
            "last_error": c.last_error, **whole, "last_dead_letter": None,
        }
        for c in channels
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
    elif low_disk:
        # the agent's own spool knows it is full; a reader can only look at the file system
        notes.append(f"DISK FULL: {free} bytes free on the file system of {stats.path}; the "
                     "agent holds new samples in memory (up to 50,000) until there is room")
    unconfirmed = {c.channel: c.unconfirmed for c in channels if c.unconfirmed}
    for channel, n in unconfirmed.items():
        notes.append(f"notify:{channel}: {n} notifications were being sent when the agent "
                     "stopped; they may have gone out and are not sent again")
    for letter in letters:
        notes.append(f"dead letter for {letter.output}: {letter.message}")
    return rows, notes


def _rates(spool: Spool, before: SpoolStats, now_ns: int,
           sample_s: float) -> dict[str, dict[str, Any]]:
    sending = [o for o in before.outputs if o.queued and o.last_send_ok_ns
               and now_ns - o.last_send_ok_ns < _SENDING_WINDOW_NS]
    if not sending or sample_s <= 0:
        return {}
    started = time.monotonic()
    time.sleep(sample_s)
    after = spool.stats()
    took = time.monotonic() - started
    collected = after.collected_total - before.collected_total
    later = {o.output: o for o in after.outputs}
    rates = {}
    for o in sending:
        o2 = later.get(o.output)
        if o2 is None:
            continue
        sent = o2.sent_total - o.sent_total
        gone = sent + (o2.dead_letters - o.dead_letters) + (o2.dropped - o.dropped)
        queued = max(0, o.queued - gone + collected)   # the reader's count is from its open
        shrink = (gone - collected) / took
        rates[o.output] = {
            "replay_rate_pps": round(sent / took),
            "eta_s": round(queued / shrink) if shrink > 0 else None,
        }
    return rates


def _free_bytes(path: Path) -> int | None:
    try:
        st = os.statvfs(path.parent)
    except OSError:
        return None
    return st.f_bavail * st.f_frsize


def _iso(ns: int | None, tz: dt.tzinfo | None) -> str | None:
    if ns is None:
        return None
    return dt.datetime.fromtimestamp(ns // 10**9, dt.UTC).astimezone(tz).isoformat(
        timespec="seconds")
