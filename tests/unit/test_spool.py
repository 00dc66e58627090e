"""The spool: durability, delivery bookkeeping, the size cap, history, damage and a full disk."""

from __future__ import annotations

import logging
import math
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from linkwatch.agent.datamodel.lineprotocol import decode
from linkwatch.agent.spool import Spool
from linkwatch.collector.sample import Sample
from tests.servers.process import unavailable

REPO = Path(__file__).resolve().parents[2]
MiB = 2**20
T0 = 1_700_000_000_000_000_000
S = 1_000_000_000


class Clock:
    def __init__(self, now: int = T0):
        self.now = now

    def __call__(self) -> int:
        return self.now


def points(n: int, start: int = 0, *, target: str = "gw", pad: int = 0) -> list[Sample]:
    return [Sample("ping", {"target": target, "site": "Ngọc Vừng"},
                   {"seq": start + i, "up": 1, "rtt_avg_ms": 1.25,
                    **({"pad": "x" * pad} if pad else {})},
                   T0 + (start + i) * S) for i in range(n)]


def seqs(lines) -> list[int]:
    return [decode(line).fields["seq"] for line in lines]


def drain(spool: Spool, output: str) -> list[bytes]:
    out = []
    while (batch := spool.next_batch(output, 1000)) is not None:
        out.extend(batch.lines)
        spool.ack(output, batch.ids)
    return out


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def open_spool(tmp_path, clock):
    opened = []

    def _open(path: Path | None = None, *, outputs=("influx",), max_size=64 * MiB,
              history_s=3600.0) -> Spool:
        spool = Spool.open(path or tmp_path / "spool.db", max_size=max_size,
                           history_s=history_s, outputs=list(outputs), time_ns=clock)
        opened.append(spool)
        return spool

    yield _open
    for spool in opened:
        spool.close()


# ------------------------------------------------------------------------------- durability

def test_committed_points_survive_sigkill_of_the_writer(tmp_path):
    path = tmp_path / "spool.db"
    child = textwrap.dedent(f"""
        import sys
        from pathlib import Path
        from linkwatch.agent.spool import Spool
        from linkwatch.collector.sample import Sample
        spool = Spool.open(Path({str(path)!r}), max_size=64 * 2**20, history_s=3600,
                           outputs=["influx"])
        n = 0
        while True:
            spool.append([Sample("ping", {{"target": "gw"}}, {{"seq": n + i}}, 10**18 + n + i)
                          for i in range(200)])
            n += 200
            print(n, flush=True)
    """)
    proc = subprocess.Popen([sys.executable, "-c", child], stdout=subprocess.PIPE, text=True,
                            env=dict(os.environ))
    confirmed = 0
    try:
        while confirmed < 2000:
            line = proc.stdout.readline()
            assert line, "the writer exited before it appended anything"
            confirmed = int(line)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    spool = Spool.open(path, max_size=64 * MiB, history_s=3600, outputs=["influx"])
    try:
        got = seqs(drain(spool, "influx"))
        assert len(got) >= confirmed
        assert got == list(range(len(got)))
        assert spool.stats().collected_total == len(got)
    finally:
        spool.close()


def test_counters_and_queues_persist_across_reopen(tmp_path, open_spool):
    spool = open_spool()
    spool.append(points(10))
    batch = spool.next_batch("influx", 4)
    spool.ack("influx", batch.ids)
    spool.record_send_error("influx", "connection refused (127.0.0.1:8086)")
    spool.close()
    again = open_spool()
    st = again.stats()
    (out,) = st.outputs
    assert (st.collected_total, st.rows, st.history_rows) == (10, 10, 4)
    assert (out.queued, out.sent_total, out.send_errors) == (6, 4, 1)
    assert out.last_error == "connection refused (127.0.0.1:8086)"
    assert out.last_send_ok_ns == T0
    assert seqs(again.next_batch("influx", 100).lines) == list(range(4, 10))


def test_points_carried_out_by_hand_leave_the_queue_but_not_the_outputs_health(
        open_spool, clock):
    spool = open_spool()
    spool.append(points(10))
    spool.ack("influx", spool.next_batch("influx", 2).ids)
    answered = clock.now
    clock.now += 3600 * S
    spool.record_send_error("influx", "connection refused (127.0.0.1:8086)")
    spool.mark_carried("influx", spool.next_batch("influx", 100).ids)
    (out,) = spool.stats().outputs
    assert (out.queued, out.sent_total) == (0, 10)
    # the link is still down: its last answer and its error say so
    assert out.last_send_ok_ns == answered
    assert out.last_error == "connection refused (127.0.0.1:8086)"


# -------------------------------------------------------------------------------- the queue

def test_ack_removes_from_that_output_only_and_keeps_history(open_spool):
    spool = open_spool(outputs=["influx", "victoria"])
    spool.append(points(5))
    batch = spool.next_batch("influx", 3)
    assert seqs(batch.lines) == [0, 1, 2]
    assert batch.oldest_ns == T0
    spool.ack("influx", batch.ids)
    assert seqs(spool.next_batch("influx", 10).lines) == [3, 4]
    assert seqs(spool.next_batch("victoria", 10).lines) == [0, 1, 2, 3, 4]
    assert [s.fields["seq"] for s in spool.history("ping", T0, T0 + 10 * S)] == [0, 1, 2, 3, 4]
    st = {o.output: o for o in spool.stats().outputs}
    assert (st["influx"].queued, st["influx"].sent_total) == (2, 3)
    assert (st["victoria"].queued, st["victoria"].sent_total) == (5, 0)


def test_a_batch_is_not_removed_until_acked(open_spool):
    spool = open_spool()
    spool.append(points(3))
    first = spool.next_batch("influx", 10)
    spool.record_send_error("influx", "timeout")
    assert spool.next_batch("influx", 10) == first
    assert spool.stats().outputs[0].last_error == "timeout"
    spool.ack("influx", first.ids)
    assert spool.next_batch("influx", 10) is None
    assert spool.stats().outputs[0].last_error is None


def test_after_id_reads_past_a_batch_in_flight(open_spool):
    spool = open_spool()
    spool.append(points(6))
    a = spool.next_batch("influx", 2)
    b = spool.next_batch("influx", 2, after_id=a.ids[-1])
    assert seqs(b.lines) == [2, 3]


def test_dead_letters_leave_the_queue_with_the_server_message(open_spool):
    spool = open_spool(outputs=["influx", "victoria"])
    spool.append(points(4))
    batch = spool.next_batch("influx", 2)
    spool.dead_letter("influx", batch.ids, 'partial write: field type conflict: "seq"')
    assert seqs(spool.next_batch("influx", 10).lines) == [2, 3]
    assert seqs(spool.next_batch("victoria", 10).lines) == [0, 1, 2, 3]
    letters = spool.dead_letters("influx")
    assert [decode(d.line).fields["seq"] for d in letters] == [1, 0]
    assert {d.message for d in letters} == {'partial write: field type conflict: "seq"'}
    assert spool.dead_letters("victoria") == []
    out = {o.output: o for o in spool.stats().outputs}["influx"]
    assert (out.queued, out.dead_letters, out.sent_total) == (2, 2, 0)


def test_queue_follows_insertion_order_when_the_clock_steps_back(open_spool):
    spool = open_spool()
    spool.append([Sample("ping", {"target": "gw"}, {"seq": 0}, T0 + 100 * S)])
    spool.append([Sample("ping", {"target": "gw"}, {"seq": 1}, T0)])          # clock stepped back
    spool.append([Sample("ping", {"target": "gw"}, {"seq": 2}, T0)])          # same timestamp
    batch = spool.next_batch("influx", 10)
    assert seqs(batch.lines) == [0, 1, 2]
    assert list(batch.ids) == sorted(batch.ids)
    assert batch.oldest_ns == T0


def test_the_same_sample_appended_twice_is_kept_twice(open_spool):
    spool = open_spool()
    spool.append(points(1))
    spool.append(points(1))
    assert len(spool.next_batch("influx", 10).ids) == 2


def test_ids_never_go_back_even_after_everything_was_deleted(open_spool, clock):
    spool = open_spool(history_s=1)
    spool.append(points(3))
    last = spool.next_batch("influx", 10).ids[-1]
    drain(spool, "influx")
    clock.now = T0 + 3600 * S
    spool.prune()
    assert spool.stats().rows == 0
    spool.append(points(1, 10))
    assert spool.next_batch("influx", 10).ids[0] > last


def test_a_sample_that_cannot_be_encoded_is_left_out_and_the_rest_committed(open_spool, caplog):
    spool = open_spool()
    bad = Sample("ping", {"target": "gw"}, {"rtt": math.nan}, T0)
    with caplog.at_level(logging.ERROR, logger="linkwatch.spool"):
        spool.append([*points(2), bad])
    assert len(spool.next_batch("influx", 10).ids) == 2
    assert "cannot be written as line protocol" in caplog.text


def test_outputs_added_start_from_now_and_removed_ones_lose_their_queue(tmp_path, open_spool,
                                                                       caplog):
    spool = open_spool(outputs=["influx", "old"])
    spool.append(points(3))
    spool.close()
    with caplog.at_level(logging.WARNING, logger="linkwatch.spool"):
        spool = open_spool(outputs=["influx", "new"])
    assert "'old' is no longer configured" in caplog.text
    assert spool.next_batch("new", 10) is None
    spool.append(points(1, 3))
    assert seqs(spool.next_batch("new", 10).lines) == [3]
    assert seqs(spool.next_batch("influx", 10).lines) == [0, 1, 2, 3]
    assert [o.output for o in spool.stats().outputs] == ["influx", "new"]
    with pytest.raises(KeyError, match="old"):
        spool.next_batch("old", 10)


# ----------------------------------------------------------------------------- the size cap

def _file_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in (path, path.with_name(path.name + "-wal"))
               if p.exists())


def test_past_the_cap_the_oldest_unsent_points_go_and_are_counted_exactly(tmp_path,
                                                                        open_spool, caplog):
    path = tmp_path / "spool.db"
    spool = open_spool(path, max_size=MiB)
    appended = 0
    largest = 0
    with caplog.at_level(logging.INFO, logger="linkwatch.spool"):
        for _ in range(120):
            spool.append(points(200, appended, pad=40))
            appended += 200
            largest = max(largest, _file_bytes(path))
        st = spool.stats()
        (out,) = st.outputs
        assert st.dropped_total > 0
        assert out.queued + st.dropped_total == appended
        assert out.dropped == st.dropped_total
        assert largest <= MiB
        kept = seqs(drain(spool, "influx"))
        assert kept == list(range(appended - len(kept), appended))      # oldest went first
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    ended = [r for r in caplog.records if "eviction ended" in r.getMessage()]
    assert len(warnings) == 1 and "size cap" in warnings[0].getMessage()
    assert len(ended) == 1 and f"{st.dropped_total} unsent points" in ended[0].getMessage()
    spool.close()
    assert Spool.open(path, max_size=MiB, history_s=3600, outputs=["influx"]).stats() \
        .dropped_total == st.dropped_total


def test_one_append_larger_than_the_spool_keeps_its_newest_points_and_says_no_disk_full(
        tmp_path, open_spool, caplog):
    spool = open_spool(tmp_path / "spool.db", outputs=(), max_size=MiB, history_s=10**9)
    with caplog.at_level(logging.INFO, logger="linkwatch.spool"):
        spool.append(points(20_000, pad=40))      # several MiB at once: a bulk load
    st = spool.stats()
    assert not st.disk_full and st.buffered == 0
    assert "disk is full" not in caplog.text
    kept = [s.fields["seq"] for s in spool.history("ping", 0, 2**63 - 1)]
    assert 0 < len(kept) < 20_000
    assert kept == list(range(20_000 - len(kept), 20_000))     # the oldest made room
    assert _file_bytes(tmp_path / "spool.db") <= MiB


def test_sent_history_goes_before_any_unsent_point(open_spool):
    spool = open_spool(max_size=MiB, history_s=10**9)
    spool.append(points(2000, pad=40))
    drain(spool, "influx")                       # all sent: now only history
    appended = 2000
    while spool.stats().history_rows == 2000:
        spool.append(points(200, appended, pad=40))
        appended += 200
    st = spool.stats()
    assert st.dropped_total == 0
    assert st.outputs[0].queued == appended - 2000
    history = [s.fields["seq"] for s in spool.history("ping", 0, 2**63 - 1)]
    assert history[0] > 0 and history[-1] == appended - 1


def test_a_spool_too_small_to_be_useful_is_refused(tmp_path):
    with pytest.raises(ValueError, match="max_size"):
        Spool.open(tmp_path / "s.db", max_size=100_000, history_s=60, outputs=[])


# -------------------------------------------------------------------------------- history

def test_history_is_kept_for_its_retention_unless_still_unsent(open_spool, clock):
    spool = open_spool(outputs=["influx", "victoria"], history_s=3600)
    spool.append(points(10))
    drain(spool, "influx")
    spool.ack("victoria", spool.next_batch("victoria", 5).ids)   # 0..4 sent everywhere
    clock.now = T0 + 3599 * S
    spool.prune()
    assert spool.stats().rows == 10
    clock.now = T0 + 2 * 3600 * S
    spool.prune()
    st = spool.stats()
    assert st.rows == 5 and st.history_rows == 0
    assert [s.fields["seq"] for s in spool.history("ping", 0, 2**63 - 1)] == [5, 6, 7, 8, 9]


def test_history_selects_by_time_range_and_tags(open_spool):
    spool = open_spool()
    spool.append(points(5, target="gw") + points(5, target="Cô Tô, đảo") +
                 [Sample("device", {"device": "sw"}, {"up": 1}, T0)])
    got = list(spool.history("ping", T0 + 1 * S, T0 + 4 * S, {"target": "Cô Tô, đảo"}))
    assert [s.fields["seq"] for s in got] == [1, 2, 3]
    assert {s.tags["target"] for s in got} == {"Cô Tô, đảo"}
    assert len(list(spool.history("ping", T0, T0 + 100 * S))) == 10
    assert list(spool.history("ping", T0, T0 + 100 * S, {"target": "g"})) == []


def test_history_reads_across_many_pages(open_spool):
    spool = open_spool()
    for k in range(25):
        spool.append(points(200, k * 200))
    got = [s.fields["seq"] for s in spool.history("ping", T0, T0 + 10**6 * S)]
    assert got == list(range(5000))


def test_latest_is_the_newest_sample_of_each_series(open_spool):
    spool = open_spool()
    spool.append(points(3, target="a") + points(2, target="b"))
    spool.append([Sample("ping", {"target": "a", "site": "Ngọc Vừng"}, {"seq": -1}, T0)])  # older
    latest = {s.tags["target"]: s.fields["seq"] for s in spool.latest("ping")}
    assert latest == {"a": 2, "b": 1}
    assert spool.latest("device") == []


# ---------------------------------------------------------------------------------- state

def test_probe_state_round_trips_and_survives_reopen(open_spool):
    spool = open_spool()
    assert spool.get_state("snmp/core-switch/ifHCInOctets.1") is None
    spool.put_state("snmp/core-switch/ifHCInOctets.1", b"\x00\x01binary\xff")
    spool.put_state("k", b"1")
    spool.put_state("k", b"2")
    spool.close()
    spool = open_spool()
    assert spool.get_state("snmp/core-switch/ifHCInOctets.1") == b"\x00\x01binary\xff"
    assert spool.get_state("k") == b"2"


# --------------------------------------------------------------------------- damaged files

def _filled(path: Path, n: int = 4000) -> list[bytes]:
    spool = Spool.open(path, max_size=64 * MiB, history_s=3600, outputs=["influx"])
    for k in range(0, n, 200):
        spool.append(points(200, k))
    spool.put_state("counter", b"42")
    lines = list(spool.next_batch("influx", n).lines)
    spool.close()
    return lines


def _damage_truncate(path: Path) -> None:
    os.truncate(path, path.stat().st_size // 2)


def _damage_garbage_middle(path: Path) -> None:
    size = path.stat().st_size
    with path.open("r+b") as f:
        f.seek(size // 2)
        f.write(os.urandom(16384))


def _damage_not_a_database(path: Path) -> None:
    path.write_bytes(b"this is not a database\n" * 1000)


@pytest.mark.parametrize("damage,salvageable", [
    (_damage_truncate, True), (_damage_garbage_middle, True), (_damage_not_a_database, False),
])
def test_a_damaged_spool_is_moved_aside_and_what_can_be_read_is_queued(tmp_path, caplog,
                                                                       damage, salvageable):
    path = tmp_path / "spool.db"
    original = _filled(path)
    damage(path)
    with caplog.at_level(logging.INFO, logger="linkwatch.spool"):
        spool = Spool.open(path, max_size=64 * MiB, history_s=3600, outputs=["influx"],
                           time_ns=Clock(T0))
    aside = tmp_path / "spool.db.corrupt-20231114T221320Z"
    assert aside.exists()
    assert f"{path}" in caplog.text and f"{aside}" in caplog.text
    # one error, the damage; what was saved from it is no error
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "is damaged" in errors[0]
    assert [r.levelno for r in caplog.records if "read back" in r.getMessage()] == [
        logging.INFO]
    try:
        got = drain(spool, "influx")
        assert set(got) <= set(original)
        assert seqs(got) == sorted(seqs(got))
        if salvageable:
            assert len(got) > len(original) // 4
        spool.append(points(1, 10**6))
        assert seqs(spool.next_batch("influx", 10).lines) == [10**6]
    finally:
        spool.close()


def test_a_file_with_a_newer_schema_is_refused_not_overwritten(tmp_path):
    import sqlite3

    path = tmp_path / "spool.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE x (a)")
    conn.execute("PRAGMA user_version=99")
    conn.commit()
    conn.close()
    from linkwatch.agent.spool import SchemaError

    with pytest.raises(SchemaError, match="version 99"):
        Spool.open(path, max_size=MiB, history_s=60, outputs=[])
    assert path.exists()


# -------------------------------------------------------------------------------- disk full

@pytest.fixture
def tiny_fs(tmp_path):
    if os.geteuid() != 0:
        unavailable("mounting a tmpfs needs root")
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        unavailable(f"cannot mount a tmpfs: {r.stderr.strip()}")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_a_full_disk_holds_samples_in_memory_and_recovers_by_itself(tiny_fs, caplog):
    path = tiny_fs / "spool.db"
    spool = Spool.open(path, max_size=64 * MiB, history_s=3600, outputs=["influx"])
    try:
        spool.append(points(100))
        filler = tiny_fs / "filler"
        with filler.open("wb") as f:                 # take every free byte
            try:
                while True:
                    f.write(b"\0" * 65536)
                    f.flush()
            except OSError:
                pass
        appended = 100
        with caplog.at_level(logging.INFO, logger="linkwatch.spool"):
            while not spool.stats().disk_full:
                spool.append(points(100, appended, pad=200))
                appended += 100
                assert appended < 10_000, "the disk never filled"
            for _ in range(3):
                spool.append(points(100, appended))
                appended += 100
            st = spool.stats()
            assert st.disk_full and st.buffered > 0
            spool.put_state("k", b"v")
            assert spool.get_state("k") == b"v"
            filler.unlink()
            spool.append(points(100, appended))
            appended += 100
        st = spool.stats()
        assert not st.disk_full and st.buffered == 0
        assert st.collected_total == appended and st.dropped_total == 0
        errors = [r for r in caplog.records if r.levelno == logging.ERROR]
        assert len(errors) == 1 and "disk is full" in errors[0].getMessage()
        assert "has room again" in caplog.text
        assert seqs(drain(spool, "influx")) == list(range(appended))
    finally:
        spool.close()
    spool = Spool.open(path, max_size=64 * MiB, history_s=3600, outputs=["influx"])
    try:
        assert spool.get_state("k") == b"v"
    finally:
        spool.close()


@pytest.mark.parametrize(("group_readable", "file_mode", "dir_mode"),
                         [(False, 0o600, 0o700), (True, 0o640, 0o750)])
def test_a_new_spool_is_its_owners_alone_unless_its_group_may_read_it(
        tmp_path, group_readable, file_mode, dir_mode):
    import stat

    old = os.umask(0o022)   # a permissive umask changes neither (the service's is 0027)
    try:
        spool = Spool.open(tmp_path / "var" / "spool.db", max_size=2**22, history_s=3600,
                           outputs=["o"], group_readable=group_readable)
        spool.append([Sample("ping", {"agent": "a", "site": "s", "target": "t"}, {"up": 1},
                             1_700_000_000 * 10**9)])
        modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in (tmp_path / "var").iterdir()}
        spool.close()
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "var").stat().st_mode) == dir_mode
    assert modes["spool.db"] == file_mode
    assert all(mode == file_mode for name, mode in modes.items()), modes  # -wal, -shm too
