"""The books of one scenario: what the spool committed against what InfluxDB holds.

collected   the spool's durable `collected_total` (every point ever committed)
delivered   distinct points (series + timestamp) in the scenario's database
lost        committed and not evicted by the cap, yet absent downstream
dup_diff    a series + timestamp whose value downstream differs from the committed one, or
            that was committed twice with different values (InfluxDB would keep only one)
dropped     the spool's durable `dropped_total` (evicted unsent by the size cap)

Points the spool still holds are compared value by value (decoded line protocol against
`SELECT *`). A pre-filled backlog of a million points is compared per series instead (count,
sum of `up`, sum of `rtt_avg_ms` downstream against what was generated and committed), which
catches a missing, extra or altered point without pulling a million rows through JSON.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from linkwatch.agent.datamodel.lineprotocol import decode
from tests.servers.influxdb import InfluxServer

BACKLOG_TAG = b"target=island-"


@dataclass
class Row:
    scenario: str
    collected: int
    delivered: int
    lost: int
    dup_diff: int
    dropped: int
    notes: list[str] = field(default_factory=list)

    def line(self) -> str:
        return (f"{self.scenario:<28} {self.collected:>10} {self.delivered:>10} {self.lost:>6} "
                f"{self.dup_diff:>8} {self.dropped:>8}  {'; '.join(self.notes)}")


HEADER = (f"{'scenario':<28} {'collected':>10} {'delivered':>10} {'lost':>6} "
          f"{'dup_diff':>8} {'dropped':>8}  notes")


def _counters(spool_path: Path) -> dict[str, int]:
    with sqlite3.connect(f"file:{spool_path}?mode=ro", uri=True) as db:
        return dict(db.execute("SELECT name, value FROM counter"))


def committed(spool_path: Path, skip_backlog: bool = True) -> dict[tuple, dict]:
    """Every point the spool holds, but the pre-filled backlog: key → fields.

    Two committed points with the same key and different fields are kept under a key with
    a trailing marker so the ledger can count them.
    """
    out: dict[tuple, dict] = {}
    with sqlite3.connect(f"file:{spool_path}?mode=ro", uri=True) as db:
        for (line,) in db.execute("SELECT line FROM point ORDER BY id"):
            line = bytes(line)
            if skip_backlog and BACKLOG_TAG in line:
                continue
            s = decode(line)
            key = (s.measurement, tuple(sorted(s.tags.items())), s.time_ns)
            fields = dict(s.fields)
            if key in out and out[key] != fields:
                out[(*key, "conflict")] = fields
            out[key] = fields
    return out


def downstream(influx: InfluxServer, db: str, skip_backlog: bool = True) -> dict[tuple, dict]:
    """Every point in the database, but the pre-filled backlog: key → fields."""
    out: dict[tuple, dict] = {}
    results = influx.query("SHOW MEASUREMENTS", db=db)
    names = [v[0] for s in results[0].get("series", []) for v in s["values"]]
    for name in names:
        where = " WHERE target !~ /^island-/" if name == "ping" and skip_backlog else ""
        res = influx.query(f'SELECT * FROM "{name}"{where} GROUP BY *', db=db)
        for series in res[0].get("series", []):
            tags = tuple(sorted((k, v) for k, v in series.get("tags", {}).items() if v != ""))
            columns = series["columns"]
            for values in series["values"]:
                row = dict(zip(columns, values, strict=True))
                t = row.pop("time")
                out[(name, tags, t)] = {k: v for k, v in row.items() if v is not None}
    return out


def backlog_downstream(influx: InfluxServer, db: str) -> dict[str, tuple]:
    """Per backlog target: (points, sum of up, sum of rtt_avg_ms) in InfluxDB."""
    res = influx.query('SELECT count("up"), sum("up"), sum("rtt_avg_ms") FROM "ping" '
                       "WHERE target =~ /^island-/ GROUP BY target", db=db)
    out = {}
    for series in res[0].get("series", []):
        _, n, up, rtt = series["values"][0]
        out[series["tags"]["target"]] = (n, up, round(rtt or 0.0, 2))
    return out


def _same(a: dict, b: dict) -> bool:
    if a.keys() != b.keys():
        return False
    return all(a[k] == b[k] or (isinstance(a[k], float) and abs(a[k] - b[k]) < 1e-9)
               for k in a)


def balance(scenario: str, spool_path: Path, influx: InfluxServer, db: str, *,
            backlog_expected: dict[str, tuple] | None = None) -> Row:
    """The row for the table; `backlog_expected` is the generated backlog still due (when
    None, backlog points are compared one by one like the rest)."""
    counters = _counters(spool_path)
    skip = backlog_expected is not None
    held = committed(spool_path, skip)
    there = downstream(influx, db, skip)
    conflicts = sum(1 for k in held if k[-1] == "conflict")
    keys = {k for k in held if k[-1] != "conflict"}
    lost = sum(1 for k in keys if k not in there)
    differ = sum(1 for k in keys if k in there and not _same(held[k], there[k]))
    delivered = len(there)
    notes = []
    if backlog_expected is not None:
        got = backlog_downstream(influx, db)
        delivered += sum(n for n, _, _ in got.values())
        for target, (n, up, rtt) in backlog_expected.items():
            g = got.get(target, (0, 0, 0.0))
            lost += max(0, n - g[0])
            if g[0] == n and (g[1] != up or abs(g[2] - rtt) > 1e-6 * max(1.0, rtt)):
                differ += 1
        extra = sum(max(0, g[0] - backlog_expected.get(t, (0,))[0]) for t, g in got.items())
        if extra:
            notes.append(f"{extra} backlog points downstream that were not expected")
    return Row(scenario, counters["collected_total"], delivered, lost, differ + conflicts,
               counters["dropped_total"], notes)
