"""Reading the local history back: newest point per series, and points over a time range."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Mapping

from linkwatch.agent.datamodel.lineprotocol import Decoder, LineProtocolError, encode_series
from linkwatch.collector.sample import Sample

_PAGE = 2000


def latest(conn: sqlite3.Connection, measurement: str) -> list[Sample]:
    """The newest sample of every series of `measurement`, ordered by series."""
    rows = conn.execute("SELECT line FROM latest WHERE measurement = ? ORDER BY series",
                        (measurement,)).fetchall()
    read = Decoder()
    return [s for (line,) in rows if (s := _decoded(read, line)) is not None]


def history(conn: sqlite3.Connection, measurement: str, since_ns: int, until_ns: int,
            tags: Mapping[str, str] | None, *,
            fields: Iterable[str] | None = None) -> Iterator[Sample]:
    """Samples with since_ns <= time < until_ns, by time then insertion order (with only
    `fields`, when given)."""
    wanted = {k: v for k, v in (tags or {}).items()}
    read = Decoder(fields=fields)
    for _t, line in lines(conn, measurement, since_ns, until_ns, wanted):
        s = _decoded(read, line)
        if s is not None and all(s.tags.get(k) == v for k, v in wanted.items()):
            yield s


def lines(conn: sqlite3.Connection, measurement: str, since_ns: int, until_ns: int,
          tags: Mapping[str, str] | None = None) -> Iterator[tuple[int, bytes]]:
    """(time, line) of the points with since_ns <= time < until_ns, by time then insertion
    order; with `tags`, only lines that hold them encoded (a pre-filter: the caller
    compares the decoded tags exactly).

    Read in pages keyed on (time, id), so no cursor stays open between pages and writes may
    go on while a caller walks the result.
    """
    needles = [b"," + encode_series("m", {k: v}).split(b",", 1)[1]
               for k, v in (tags or {}).items() if k and v]
    where = "".join(" AND instr(line, ?) > 0" for _ in needles)
    sql = ("SELECT id, time_ns, line FROM point WHERE measurement = ? AND time_ns < ? AND "
           "(time_ns, id) > (?, ?)" + where +
           " ORDER BY time_ns, id LIMIT ?")
    last_t, last_id = since_ns, -1
    while True:
        rows = conn.execute(sql, (measurement, until_ns, last_t, last_id,
                                  *needles, _PAGE)).fetchall()
        for _id, t, line in rows:
            yield t, line
        if len(rows) < _PAGE:
            return
        last_id, last_t, _ = rows[-1]


def count_between(conn: sqlite3.Connection, since_ns: int, until_ns: int,
                  measurement: str | None = None) -> int:
    """Points (of `measurement`, else of every one) with since_ns <= time < until_ns,
    counted on the (measurement, time) index."""
    return sum(conn.execute("SELECT count(*) FROM point WHERE measurement = ? AND time_ns >= ? "
                            "AND time_ns < ?", (m, since_ns, until_ns)).fetchone()[0]
               for m in ([measurement] if measurement else measurements(conn)))


def measurements(conn: sqlite3.Connection) -> list[str]:
    """The measurements the point table holds, by a skip-scan of its index."""
    return [m for (m,) in conn.execute(
        "WITH RECURSIVE m(x) AS (SELECT min(measurement) FROM point UNION ALL "
        "SELECT (SELECT min(measurement) FROM point WHERE measurement > x) FROM m "
        "WHERE x IS NOT NULL) SELECT x FROM m WHERE x IS NOT NULL")]


def _decoded(read: Decoder, line: bytes) -> Sample | None:
    try:
        return read(line)
    except (LineProtocolError, UnicodeDecodeError):
        return None


def prune(conn: sqlite3.Connection, cutoff_ns: int, unqueued: str) -> int:
    """Delete points older than `cutoff_ns` that satisfy `unqueued`; returns how many.

    Done per measurement so each delete is a range on the (measurement, time) index; the
    measurements are found by a skip-scan of that index.
    """
    removed = 0
    for m in measurements(conn):
        removed += conn.execute("DELETE FROM point WHERE measurement = ? AND time_ns < ? AND "
                                + unqueued, (m, cutoff_ns)).rowcount
    conn.execute("DELETE FROM latest WHERE time_ns < ?", (cutoff_ns,))
    conn.execute("DELETE FROM dead_letter WHERE at_ns < ?", (cutoff_ns,))
    return removed
