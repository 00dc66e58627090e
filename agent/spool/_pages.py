"""Reading point rows straight from SQLite pages, for a file whose b-tree cannot be walked.

A truncated file or a damaged interior page cuts every SQL query off from the leaves below
it. The leaves themselves are often intact, so this scans every page of the file (and the
frames of its write-ahead log) for table-leaf cells shaped like a point row:
(id alias NULL, time_ns int, measurement text, line blob). Cells that spill onto overflow
pages are skipped. Freed pages keep their old rows, so points already sent may come back;
resending them is harmless (InfluxDB keeps one value per series and timestamp).
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path

_TABLE_LEAF = 0x0D
_WAL_HEADER = 32
_FRAME_HEADER = 24


def _varint(buf: bytes, i: int) -> tuple[int, int]:
    value = 0
    for k in range(8):
        b = buf[i + k]
        value = (value << 7) | (b & 0x7F)
        if b < 0x80:
            return value, i + k + 1
    return (value << 8) | buf[i + 8], i + 9


_INT_SIZES = {1: 1, 2: 2, 3: 3, 4: 4, 5: 6, 6: 8}

Column = int | float | bytes | str | None     # one column of a record, as SQLite stores it


def _record(payload: bytes) -> list[Column] | None:
    header_size, i = _varint(payload, 0)
    types: list[int] = []
    while i < header_size:
        t, i = _varint(payload, i)
        types.append(t)
    pos = header_size
    values: list[Column] = []
    for t in types:
        if t == 0:
            values.append(None)
        elif t in _INT_SIZES:
            n = _INT_SIZES[t]
            values.append(int.from_bytes(payload[pos:pos + n], "big", signed=True))
            pos += n
        elif t == 7:
            values.append(struct.unpack(">d", payload[pos:pos + 8])[0])
            pos += 8
        elif t in (8, 9):
            values.append(t - 8)
        elif t >= 12:
            n = (t - 12) // 2
            raw = payload[pos:pos + n]
            values.append(raw if t % 2 == 0 else raw.decode("utf-8", "replace"))
            pos += n
        else:
            return None
        if pos > len(payload):
            return None
    return values


def _leaf_cells(page: bytes, header_at: int, usable: int) -> Iterator[tuple[int, bytes]]:
    if page[header_at] != _TABLE_LEAF:
        return
    count = int.from_bytes(page[header_at + 3:header_at + 5], "big")
    local_max = usable - 35
    for k in range(count):
        at = header_at + 8 + 2 * k
        offset = int.from_bytes(page[at:at + 2], "big")
        if not header_at + 8 <= offset < len(page):
            continue
        size, i = _varint(page, offset)
        rowid, i = _varint(page, i)
        if size > local_max or i + size > len(page):
            continue          # on overflow pages, or damaged
        yield rowid, page[i:i + size]


def _page_rows(page: bytes, page_no: int, usable: int) -> Iterator[tuple[int, int, bytes]]:
    try:
        for rowid, payload in _leaf_cells(page, 100 if page_no == 1 else 0, usable):
            values = _record(payload)
            if (values is not None and len(values) == 4 and values[0] is None
                    and isinstance(values[1], int) and isinstance(values[2], str)
                    and isinstance(values[3], bytes)):
                yield rowid, values[1], values[3]
    except (IndexError, struct.error):
        return


def _page_size(header: bytes, default: int = 4096) -> int:
    if len(header) >= 100 and header.startswith(b"SQLite format 3\0"):
        size = int.from_bytes(header[16:18], "big")
        size = 65536 if size == 1 else size
        if size >= 512 and size & (size - 1) == 0:
            return size
    return default


def scan_points(db: Path) -> dict[int, bytes]:
    """rowid → line of every point cell found in `db` and its `-wal`; the WAL's copy wins."""
    found: dict[int, bytes] = {}
    data = db.read_bytes() if db.exists() else b""
    size = _page_size(data[:100])
    for n in range(len(data) // size + (1 if len(data) % size else 0)):
        page = data[n * size:(n + 1) * size].ljust(size, b"\0")
        for rowid, _t, line in _page_rows(page, n + 1, size):
            found[rowid] = line
    wal = db.with_name(db.name + "-wal")
    if wal.exists():
        raw = wal.read_bytes()
        wal_size = int.from_bytes(raw[8:12], "big") if len(raw) >= _WAL_HEADER else 0
        if wal_size >= 512 and wal_size & (wal_size - 1) == 0:
            at = _WAL_HEADER
            while at + _FRAME_HEADER + wal_size <= len(raw):
                page_no = int.from_bytes(raw[at:at + 4], "big")
                page = raw[at + _FRAME_HEADER:at + _FRAME_HEADER + wal_size]
                for rowid, _t, line in _page_rows(page, page_no, wal_size):
                    found[rowid] = line
                at += _FRAME_HEADER + wal_size
    return found
