"""Spool → shipper → real servers: influxd 1.6.7 (v1 /write), victoria-metrics (v2 through
influxdb-client), and a loopback HTTP server of the test's own that misbehaves on cue.

What a user would notice: every collected point arrives with its tags, fields and types;
an outage loses nothing; a bad point is set aside with the server's reason while the rest
arrives; a server that refuses the credentials or lacks the database gets a clear error
and the queue waits for the fix.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import http.server
import json
import logging
import socket
import struct
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from linkwatch.agent.config.schema import InfluxOutput
from linkwatch.agent.datamodel.lineprotocol import encode
from linkwatch.agent.outputs import Pacing, ShipperState, ship
from linkwatch.agent.outputs.influx_v2 import V2Writer
from linkwatch.agent.outputs.version import AutoWriter, open_writer
from linkwatch.agent.spool import Spool
from linkwatch.agent.spool.summary import spool_rows
from linkwatch.collector.sample import Sample
from linkwatch.collector.units import Seconds, Secret
from tests.servers.influxdb import InfluxServer, start_influxd
from tests.servers.process import running

pytestmark = pytest.mark.integration

# Retries come quickly so a test does not wait out a real backoff.
FAST = Pacing(backoff_base=0.05, backoff_cap=0.2, fatal_retry=0.2, idle_poll=0.05,
              stop_grace=1.0)
DEADLINE_S = 60.0  # a safety net for a hung test, not a performance assertion
T0 = 1_790_000_000_000_000_000  # 2026-09-21, within any retention


def ping(agent: str, i: int, **fields) -> Sample:
    values = {"sent": 5, "received": 4, "loss_pct": 20.0, "rtt_min_ms": 0.8,
              "rtt_avg_ms": 1.25 + i, "rtt_max_ms": 2.5, "up": 1, **fields}
    return Sample("ping", {"agent": agent, "site": "ngoc-vung", "target": "gw",
                           "address": "127.0.0.1"}, values, T0 + i * 60_000_000_000)


def interface(agent: str, i: int) -> Sample:
    return Sample(
        "interface",
        {"agent": agent, "site": "district-lan", "device": "core-switch", "if_index": "3",
         "if_name": "Gi0/3", "if_alias": "uplink, to island=2"},
        {"in_octets": 2**40 + i, "out_octets": 17 * i, "in_bps": 8_000_000.5,
         "oper_status": 1},
        T0 + i * 60_000_000_000,
    )


def open_spool(path: Path, output: InfluxOutput) -> Spool:
    return Spool.open(path / "spool.db", max_size=64 * 2**20, history_s=86400,
                      outputs=[output.queue_name])


def queued(spool: Spool, output: InfluxOutput) -> int:
    return next(o.queued for o in spool.stats().outputs if o.output == output.queue_name)


async def _until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        await asyncio.sleep(0.02)


async def _shipping(spool: Spool, output: InfluxOutput, scenario, *, writer=None,
                    pacing: Pacing = FAST) -> ShipperState:
    """Runs the shipper while `scenario(state)` plays, then stops it."""
    stop, state = asyncio.Event(), ShipperState()
    task = asyncio.create_task(
        ship(spool, output, stop=stop, writer=writer, pacing=pacing, state=state))
    try:
        await scenario(state)
    finally:
        stop.set()
        await task
    return state


def deliver(spool: Spool, output: InfluxOutput, *, writer=None,
            pacing: Pacing = FAST) -> ShipperState:
    """Ships until the output's queue is empty."""
    async def until_empty(state: ShipperState) -> None:
        await _until(lambda: queued(spool, output) == 0, "an empty queue")

    return asyncio.run(_shipping(spool, output, until_empty, writer=writer, pacing=pacing))


def v1_output(server: InfluxServer, database: str, **settings) -> InfluxOutput:
    settings = {"name": "central", "version": "1", "timeout": Seconds(5), **settings}
    return InfluxOutput(type="influxdb", url=server.url, database=database, **settings)


# ------------------------------------------------------------------------------ influxd v1

def test_v1_points_arrive_with_their_tags_fields_and_types(influxdb, influx_db, tmp_path):
    output = v1_output(influxdb, influx_db, batch_size=7)
    spool = open_spool(tmp_path, output)
    samples = [ping("a1", i) for i in range(20)] + [interface("a1", i) for i in range(5)]
    spool.append(samples)

    state = deliver(spool, output)

    assert state.sent == 25
    rows = influxdb.points(influx_db, "ping")
    assert rows == [{"time": s.time_ns, **s.tags, **s.fields} for s in samples[:20]]
    assert influxdb.field_types(influx_db, "ping") == {
        "sent": "integer", "received": "integer", "up": "integer", "loss_pct": "float",
        "rtt_min_ms": "float", "rtt_avg_ms": "float", "rtt_max_ms": "float"}
    # a tag with a comma, a space and '=' comes back as written; a 2^40 counter stays exact
    assert influxdb.points(influx_db, "interface") == [
        {"time": s.time_ns, **s.tags, **s.fields} for s in samples[20:]]
    spool.close()


def test_points_collected_while_the_database_is_down_all_arrive_once(influxdb, influx_db,
                                                                      tmp_path, caplog):
    output = v1_output(influxdb, influx_db, batch_size=50, timeout=Seconds(2))
    spool = open_spool(tmp_path, output)
    before = [ping("a2", i) for i in range(30)]
    during = [ping("a2", i) for i in range(30, 330)]
    spool.append(before)

    async def outage(state: ShipperState) -> None:
        await _until(lambda: queued(spool, output) == 0, "the first points")
        await asyncio.to_thread(influxdb.stop)
        for i in range(0, len(during), 30):  # collection goes on: ten cycles
            spool.append(during[i:i + 30])
            await asyncio.sleep(0)
        await _until(lambda: state.send_errors >= 3, "failed sends")
        assert queued(spool, output) == len(during)
        await asyncio.to_thread(influxdb.start)
        await _until(lambda: queued(spool, output) == 0, "the replay")

    with caplog.at_level(logging.INFO, "linkwatch.outputs"):
        state = asyncio.run(_shipping(spool, output, outage))

    rows = influxdb.points(influx_db, "ping")
    assert len(rows) == 330  # one value per series and time: nothing lost, nothing doubled
    assert rows == [{"time": s.time_ns, **s.tags, **s.fields} for s in before + during]
    assert state.sent >= 330
    messages = [r.getMessage() for r in caplog.records]
    assert sum("central unreachable" in m for m in messages) == 1
    assert sum("central back after" in m for m in messages) == 1
    assert any(f"replaying {len(during)} points" in m for m in messages)
    spool.close()


def test_a_field_type_conflict_sets_aside_only_the_bad_points(influxdb, influx_db, tmp_path):
    output = v1_output(influxdb, influx_db, batch_size=100)
    spool = open_spool(tmp_path, output)
    spool.append([ping("a3", 0)])  # `up` is an integer from now on
    deliver(spool, output)
    batch = [ping("a3", i) for i in range(1, 40)]
    batch[10] = ping("a3", 11, up=1.5)
    batch[25] = ping("a3", 26, up="down")
    spool.append(batch)

    deliver(spool, output)

    times = {row["time"] for row in influxdb.points(influx_db, "ping")}
    assert times == {T0 + i * 60_000_000_000 for i in range(40) if i not in (11, 26)}
    dead = sorted(spool.dead_letters(output.queue_name), key=lambda d: d.time_ns)
    assert [d.time_ns for d in dead] == [T0 + 11 * 60_000_000_000, T0 + 26 * 60_000_000_000]
    for letter in dead:
        assert letter.message.startswith("HTTP 400: ")
        assert "field type conflict" in letter.message
    assert b"up=1.5" in dead[0].line and b'up="down"' in dead[1].line
    # What `linkwatch spool status` prints: the count per output and the server's message.
    rows, notes = spool_rows(spool)
    assert [r["dead_letters"] for r in rows] == [2]
    assert any("field type conflict" in n and output.queue_name in n for n in notes)
    spool.close()


def test_a_missing_database_is_created_and_the_points_arrive(influxdb, tmp_path, caplog):
    database = "created_at_once_" + tmp_path.name[-8:].replace("-", "_")
    output = v1_output(influxdb, database)
    spool = open_spool(tmp_path, output)
    spool.append([ping("a4", i) for i in range(5)])
    with caplog.at_level(logging.INFO, "linkwatch.outputs"):
        deliver(spool, output)
    assert len(influxdb.points(database, "ping")) == 5
    said = [r.getMessage() for r in caplog.records]
    assert any(f"created database {database!r} on {influxdb.url}" in m for m in said), said
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    influxdb.drop_database(database)
    spool.close()


def test_a_missing_database_is_reported_and_the_queue_waits_for_it(influxdb, tmp_path,
                                                                   caplog):
    database = "created_later_" + tmp_path.name[-8:].replace("-", "_")
    output = v1_output(influxdb, database, create_database=False)
    spool = open_spool(tmp_path, output)
    spool.append([ping("a4", i) for i in range(5)])

    async def admin_creates_the_database(state: ShipperState) -> None:
        await _until(lambda: state.send_errors >= 2, "refused sends")
        error = spool.stats().outputs[0].last_error
        assert error == f'HTTP 404: database not found: "{database}"'
        assert queued(spool, output) == 5
        influxdb.create_database(database)
        await _until(lambda: queued(spool, output) == 0, "delivery after the fix")

    with caplog.at_level(logging.INFO, "linkwatch.outputs"):
        asyncio.run(_shipping(spool, output, admin_creates_the_database))

    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1
    assert "database not found" in errors[0] and "CREATE DATABASE" in errors[0]
    assert "create_database: true" in errors[0]
    assert len(influxdb.points(database, "ping")) == 5
    influxdb.drop_database(database)
    spool.close()


@pytest.fixture
def influxdb_with_auth(tmp_path_factory) -> Iterator[InfluxServer]:
    with running(lambda: start_influxd(tmp_path_factory.mktemp("influxd-auth"), auth=True),
                 InfluxServer.stop) as server:
        yield server


def test_wrong_credentials_are_reported_and_the_queue_waits(influxdb_with_auth, tmp_path,
                                                             caplog):
    server = influxdb_with_auth
    server.create_database("linkwatch")
    output = v1_output(server, "linkwatch", username="agent", password=Secret("s3cret"))
    spool = open_spool(tmp_path, output)
    spool.append([ping("a5", i) for i in range(5)])

    async def admin_adds_the_user(state: ShipperState) -> None:
        await _until(lambda: state.send_errors >= 2, "refused sends")
        assert spool.stats().outputs[0].last_error.startswith("HTTP 401: ")
        assert queued(spool, output) == 5
        server.query("CREATE USER agent WITH PASSWORD 's3cret'")
        server.query("GRANT WRITE ON linkwatch TO agent")
        await _until(lambda: queued(spool, output) == 0, "delivery after the fix")

    with caplog.at_level(logging.INFO, "linkwatch.outputs"):
        asyncio.run(_shipping(spool, output, admin_adds_the_user))

    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "username/password" in errors[0]
    assert "s3cret" not in caplog.text
    assert len(server.points("linkwatch", "ping")) == 5
    spool.close()


def test_a_user_who_may_not_create_the_database_is_told_the_step_by_hand(
        influxdb_with_auth, tmp_path, caplog):
    server = influxdb_with_auth
    server.query("CREATE USER writer WITH PASSWORD 'w-secret'")
    output = v1_output(server, "not_there", username="writer", password=Secret("w-secret"))
    spool = open_spool(tmp_path, output)
    spool.append([ping("a6", i) for i in range(3)])

    async def refused_twice(state: ShipperState) -> None:
        await _until(lambda: state.send_errors >= 2, "refused sends")

    with caplog.at_level(logging.INFO, "linkwatch.outputs"):
        asyncio.run(_shipping(spool, output, refused_twice))
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1
    assert "could not create it" in errors[0] and "HTTP 403" in errors[0]
    assert """CREATE DATABASE "not_there"' (as an admin user)""" in errors[0]
    assert queued(spool, output) == 3
    assert "w-secret" not in caplog.text
    spool.close()


# ------------------------------------------------------------------- victoria-metrics (v2)

def test_v2_points_arrive_in_victoria_metrics_through_influxdb_client(victoria, victoria_run,
                                                                      tmp_path):
    output = InfluxOutput(type="influxdb", url=victoria.url, name="vm", version="2",
                          bucket="linkwatch", org="district", token=Secret("not-checked"),
                          batch_size=8)
    spool = open_spool(tmp_path, output)
    samples = [ping(victoria_run, i) for i in range(20)]
    spool.append(samples)
    writer = open_writer(output)
    assert isinstance(writer, V2Writer)

    deliver(spool, output, writer=writer)

    series = victoria.wait_for(f'{{agent="{victoria_run}"}}',
                               lambda found: sum(len(s["values"]) for s in found) == 140)
    got = {s["metric"]["__name__"]: s for s in series}
    assert sorted(got) == sorted(f"ping_{field}" for field in samples[0].fields)
    for name, s in got.items():
        field = name.removeprefix("ping_")
        assert {k: v for k, v in s["metric"].items() if k != "__name__"} == samples[0].tags
        assert s["timestamps"] == [x.time_ns // 1_000_000 for x in samples]
        assert s["values"] == [x.fields[field] for x in samples]
    spool.close()


@pytest.mark.parametrize("version", ["1", "2"])
def test_a_multi_line_device_string_cannot_forge_a_point_in_victoria_metrics(
        victoria, victoria_run, tmp_path, version):
    """A user-declared OID answering a sysDescr with a newline: on /write and /api/v2/write,
    victoria-metrics ends a line at any newline, quoted or not. The real point must arrive
    and no other point may appear."""
    output = InfluxOutput(type="influxdb", url=victoria.url, name="vm", version=version,
                          bucket="linkwatch", org="district", token=Secret("not-checked"))
    spool = open_spool(tmp_path, output)
    forged = f'ping,agent={victoria_run},site=forged,target=gw up=0i {T0 // 10**6}'
    device = Sample("snmp", {"agent": victoria_run, "site": "district-lan", "device": "sw1"},
                    {"sys_descr": f"Cisco IOS 15.2\n{forged}\r\n", "temp_c": 41},
                    T0)
    spool.append([device])

    deliver(spool, output)

    series = victoria.wait_for(f'{{agent="{victoria_run}"}}', lambda found: len(found) >= 2)
    got = {s["metric"]["__name__"]: s for s in series}
    assert sorted(got) == ["snmp_sys_descr", "snmp_temp_c"]  # a string is stored as 0
    assert got["snmp_temp_c"]["values"] == [41]
    assert {s["metric"]["site"] for s in series} == {"district-lan"}
    spool.close()


# -------------------------------------------------------------------- version: auto

@pytest.mark.parametrize("server_name", ["influxdb", "victoria"])
def test_version_auto_asks_the_server_and_delivers(server_name, request, tmp_path, caplog):
    server = request.getfixturevalue(server_name)
    agent = "auto-" + tmp_path.name[-8:]
    database = "auto_" + tmp_path.name[-8:].replace("-", "_")
    if server_name == "influxdb":
        server.create_database(database)
    output = InfluxOutput(type="influxdb", url=server.url, version="auto", database=database)
    spool = open_spool(tmp_path, output)
    spool.append([ping(agent, i) for i in range(3)])
    writer = open_writer(output)
    assert isinstance(writer, AutoWriter)

    with caplog.at_level(logging.INFO, "linkwatch.outputs"):
        deliver(spool, output, writer=writer)

    # influxd says X-Influxdb-Version 1.6.7; victoria-metrics' /ping has no version header,
    # and its /write takes v1 line protocol as well.
    assert writer.version == "1"
    expected_header = "1.6.7" if server_name == "influxdb" else "(none)"
    assert any(f"server reports version {expected_header}" in r.getMessage()
               for r in caplog.records)
    if server_name == "influxdb":
        assert len(server.points(database, "ping")) == 3
        server.drop_database(database)
    else:
        found = server.wait_for(f'ping_up{{agent="{agent}"}}',
                                lambda s: sum(len(x["values"]) for x in s) == 3)
        assert sum(len(x["values"]) for x in found) == 3
    spool.close()


# ------------------------------------------------------- a server that misbehaves on cue

class ScriptedServer(http.server.ThreadingHTTPServer):
    """Answers /write with the scripted faults in turn, then stores what it is sent."""

    daemon_threads = True

    def __init__(self, script: list[str]) -> None:
        super().__init__(("127.0.0.1", 0), _ScriptedHandler)
        self.script = script
        self.served: list[str] = []
        self.lines: list[bytes] = []
        self.release = threading.Event()  # lets a held ("slow") answer go at the end

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _ScriptedHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as InfluxDB does
    server: ScriptedServer

    def log_message(self, format: str, *args) -> None:
        pass

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        fault = self.server.script.pop(0) if self.server.script else "good"
        self.server.served.append(fault)
        if fault == "reset":
            # SO_LINGER 0: close() sends a TCP RST instead of a FIN
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       struct.pack("ii", 1, 0))
            self.connection.close()
            self.close_connection = True
            return
        if fault == "slow":
            self.server.release.wait(DEADLINE_S)  # longer than the output's timeout
            self.close_connection = True
            return
        if fault == "good":
            if self.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            self.server.lines.extend(body.split(b"\n"))
            self._answer(204)
        elif fault == "500":
            self._answer(500, b'{"error":"engine: cache full"}')
        elif fault == "503":
            self._answer(503, b"restarting", {"Retry-After": "0"})
        elif fault == "429":
            self._answer(429, b"slow down",
                         {"Retry-After": "Thu, 01 Jan 1970 00:00:00 GMT"})

    def _answer(self, status: int, body: bytes = b"", headers=None) -> None:
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@contextlib.contextmanager
def scripted_server(script: list[str]) -> Iterator[ScriptedServer]:
    server = ScriptedServer(script)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.release.set()
        server.shutdown()
        server.server_close()


def test_server_errors_timeouts_and_resets_are_retried_until_delivery(tmp_path, caplog):
    faults = ["500", "503", "429", "slow", "reset", "500"]
    with scripted_server(list(faults)) as server:
        output = InfluxOutput(type="influxdb", url=server.url, name="flaky", version="1",
                              timeout=Seconds(0.3), batch_size=10)
        spool = open_spool(tmp_path, output)
        samples = [ping("a6", i) for i in range(25)]
        spool.append(samples)
        with caplog.at_level(logging.INFO, "linkwatch.outputs"):
            state = deliver(spool, output)

    assert server.served[:len(faults)] == faults
    assert set(server.lines) == {encode(s) for s in samples}
    assert state.send_errors == len(faults)
    errors = spool.stats().outputs[0].send_errors
    assert errors == len(faults)
    messages = [r.getMessage() for r in caplog.records]
    # one line when the trouble starts and one when it ends, however many retries between
    assert sum("flaky unreachable" in m for m in messages) == 1
    assert sum("flaky back after" in m for m in messages) == 1
    spool.close()


# ---------------------------------------------- a bucket created through the InfluxDB 2 API

class BucketServer(http.server.ThreadingHTTPServer):
    """The part of InfluxDB 2's documented HTTP API that creating a bucket touches:
    /api/v2/write answers 404 for a bucket it does not have; GET /api/v2/orgs?org= and
    POST /api/v2/buckets (allowed only with the token `may-create`). No InfluxDB 2.x server
    can be installed on these machines (Debian has none), so this loopback server stands in.
    """

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _BucketHandler)
        self.buckets: set[str] = set()
        self.lines: list[bytes] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


_ORG = {"id": "0a1b2c3d4e5f6a7b", "name": "district"}


class _BucketHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: BucketServer

    def log_message(self, format: str, *args) -> None:
        pass

    def do_GET(self) -> None:
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
        if self.path.startswith("/api/v2/orgs") and query.get("org") == ["district"]:
            self._json(200, {"orgs": [_ORG]})
        else:
            self._json(404, {"code": "not found", "message": "organization not found"})

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        parts = urllib.parse.urlsplit(self.path)
        if parts.path == "/api/v2/buckets":
            if self.headers.get("Authorization") != "Token may-create":
                self._json(403, {"code": "forbidden",
                                 "message": "insufficient permissions for write:buckets"})
                return
            asked = json.loads(body)
            assert asked["orgID"] == _ORG["id"]
            self.server.buckets.add(asked["name"])
            self._json(201, {"id": "feedfacefeedface", "name": asked["name"]})
        elif parts.path == "/api/v2/write":
            bucket = urllib.parse.parse_qs(parts.query)["bucket"][0]
            if bucket not in self.server.buckets:
                self._json(404, {"code": "not found", "message": f'bucket "{bucket}" not found'})
                return
            if self.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            self.server.lines.extend(body.split(b"\n"))
            self._json(204, None)
        else:
            self._json(404, {"code": "not found", "message": "path not found"})

    def _json(self, status: int, value) -> None:
        body = b"" if value is None else json.dumps(value).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.mark.parametrize("token", ["may-create", "write-only"])
def test_a_missing_bucket_is_created_where_the_token_allows(token, tmp_path, caplog):
    server = BucketServer()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        output = InfluxOutput(type="influxdb", url=server.url, name="province", version="2",
                              org="district", bucket="linkwatch", token=Secret(token))
        spool = open_spool(tmp_path, output)
        samples = [ping("a7", i) for i in range(3)]
        spool.append(samples)

        async def delivered_or_refused(state: ShipperState) -> None:
            await _until(lambda: queued(spool, output) == 0 or state.send_errors >= 2,
                         "delivery or a refusal")

        with caplog.at_level(logging.INFO, "linkwatch.outputs"):
            asyncio.run(_shipping(spool, output, delivered_or_refused))
        errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
        if token == "may-create":
            assert set(server.lines) == {encode(s) for s in samples}
            assert any("created bucket 'linkwatch' in org 'district'" in r.getMessage()
                       for r in caplog.records)
            assert errors == []
        else:
            assert queued(spool, output) == 3 and len(errors) == 1
            assert "HTTP 403" in errors[0] and "insufficient permissions" in errors[0]
            assert "influx bucket create --name linkwatch --org district" in errors[0]
        spool.close()
    finally:
        server.shutdown()
        server.server_close()
