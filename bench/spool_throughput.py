"""Spool throughput: append (200 samples per transaction) and the send path
(next_batch + ack with 5,000-point batches), beside a bare SQLite baseline doing the same
fsynced inserts and deletes with no queue, history or counters.

    python bench/spool_throughput.py [--points 200000] [--dir /var/tmp]
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

from linkwatch.agent.datamodel.lineprotocol import encode
from linkwatch.agent.spool import Spool
from linkwatch.collector.sample import Sample


def samples(n: int, t0: int) -> list[Sample]:
    return [Sample("interface",
                   {"agent": "district-agent", "site": "district-lan", "device": "core-switch",
                    "if_index": str(i % 48), "if_name": f"GigabitEthernet0/{i % 48}",
                    "if_alias": "uplink to Ngọc Vừng"},
                   {"in_octets": 123456789 + i, "out_octets": 987654321 + i,
                    "in_bps": 1234567.5, "out_bps": 7654321.25, "oper_status": 1,
                    "admin_status": 1, "in_errors": 0, "out_errors": 0},
                   t0 + i) for i in range(n)]


def bench_spool(root: Path, n: int, outputs: list[str]) -> tuple[list[float], float]:
    spool = Spool.open(root / f"spool-{len(outputs)}.db", max_size=1 << 30, history_s=86400,
                       outputs=outputs)
    data = samples(n, time.time_ns())
    append_ms = []
    for i in range(0, n, 200):
        t = time.perf_counter()
        spool.append(data[i:i + 200])
        append_ms.append((time.perf_counter() - t) * 1e3)
    t = time.perf_counter()
    sent = 0
    for out in outputs:
        while (batch := spool.next_batch(out, 5000)) is not None:
            spool.ack(out, batch.ids)
            sent += len(batch.ids)
    rate = sent / (time.perf_counter() - t)
    spool.close()
    return append_ms, rate


def bench_baseline(root: Path, n: int) -> tuple[list[float], float]:
    conn = sqlite3.connect(root / "baseline.db", isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("CREATE TABLE p (id INTEGER PRIMARY KEY, line BLOB)")
    lines = [encode(s) for s in samples(n, time.time_ns())]
    append_ms = []
    for i in range(0, n, 200):
        t = time.perf_counter()
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO p (line) VALUES (?)", [(x,) for x in lines[i:i + 200]])
        conn.execute("COMMIT")
        append_ms.append((time.perf_counter() - t) * 1e3)
    t = time.perf_counter()
    sent = 0
    while rows := conn.execute("SELECT id, line FROM p ORDER BY id LIMIT 5000").fetchall():
        conn.execute("BEGIN")
        conn.executemany("DELETE FROM p WHERE id = ?", [(r[0],) for r in rows])
        conn.execute("COMMIT")
        sent += len(rows)
    rate = sent / (time.perf_counter() - t)
    conn.close()
    return append_ms, rate


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--points", type=int, default=200_000)
    ap.add_argument("--dir", type=Path, default=None)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        root = Path(tmp)
        rows = [("bare sqlite", *bench_baseline(root, args.points)),
                ("spool, 1 output", *bench_spool(root, args.points, ["influx"])),
                ("spool, 2 outputs", *bench_spool(root, args.points, ["influx", "victoria"]))]
    base_rate = rows[0][2]
    print(f"{'':18} {'append 200 (ms) median':>24} {'p95':>7} {'send pts/s':>12} {'vs bare':>8}")
    for name, ms, rate in rows:
        p95 = statistics.quantiles(ms, n=20)[-1]
        print(f"{name:18} {statistics.median(ms):24.2f} {p95:7.2f} {rate:12,.0f} "
              f"{rate / base_rate:8.2f}")


if __name__ == "__main__":
    main()
