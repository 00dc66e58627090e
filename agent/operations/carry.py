"""Offline carry-out: the points an output has not received, as one signed file, and back in.

A commune with no link (or one down for weeks) exports its backlog to a file, someone carries
it to a place with a link, and `linkwatch spool import` writes it to InfluxDB there.

The file is one uncompressed tar with three members, so nothing can be separated on the way:

    manifest.json    format, agent, site, the sites its points carry, output, the requested
                     and the actual time range, point count per measurement and in all,
                     SHA-256 and uncompressed size of points.lp.gz
    signature.json   the agent's Ed25519 signature of manifest.json, and its public key
    points.lp.gz     gzip line protocol, one point a line, ns precision, in spool order
                     (each series oldest first): exactly the bytes the agent would have sent

The signature covers the manifest, and the manifest the points' digest, so a file signed by
a key the importing server lists (`carry.trusted`) is exactly what that agent exported.
Reading an export that arrives from outside is agent/operations/carry_reader.py.

Export marks nothing as sent unless asked (`mark_sent`): then the exported points leave the
output's queue, only once the file is complete on disk (written to FILE.partial, mode 0600,
fsynced, renamed). Import ships the checked lines through the agent's own shipper (same batch
size, gzip, backoff, Retry-After, splitting of rejected batches into dead letters). Importing
the same file twice changes nothing downstream: InfluxDB keeps one value per series and
timestamp, and the values are the same.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import gzip
import hashlib
import io
import json
import os
import tarfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from linkwatch.agent.config.schema import InfluxOutput
from linkwatch.agent.datamodel.lineprotocol import LineProtocolError, decode, encode
from linkwatch.agent.operations.signing import public_text, sign
from linkwatch.agent.spool import Spool

if TYPE_CHECKING:     # imported when used: a carry export needs no HTTP client
    from linkwatch.agent.outputs.result import Writer, WriteResult
    from linkwatch.agent.outputs.shipper import Pacing

FORMAT = "linkwatch-export/2"
FORMAT_UNSIGNED = "linkwatch-export/1"     # before exports were signed: read, never written
MANIFEST = "manifest.json"
SIGNATURE = "signature.json"
POINTS = "points.lp.gz"
FILE_MODE = 0o600               # an export holds the data: its owner's alone
_PAGE = 5000                    # points read from the spool per query
_GZIP_LEVEL = 6                 # a file carried by hand: smaller beats faster


class CarryError(Exception):
    """An export or import that cannot go on; one line naming the file and the fix."""


@dataclass(frozen=True)
class Manifest:
    format: str
    agent: str
    site: str
    sites: tuple[str, ...]          # the `site` tags of its points
    output: str                     # the send queue the points were taken from
    points: int
    measurements: dict[str, int]    # points per measurement
    first_ns: int | None            # collection time of the oldest point in the file
    last_ns: int | None             # … and of the newest
    since_ns: int | None            # the range asked for (None: open)
    until_ns: int | None
    sha256: str                     # of the points.lp.gz member, as stored
    points_bytes: int | None        # points.lp.gz uncompressed (None in unsigned exports)
    created_ns: int
    marked_sent: bool

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), indent=2, sort_keys=True).encode() + b"\n"


def signed_message(manifest_json: bytes) -> bytes:
    """What an export's signature signs: the manifest's bytes, after a label that keeps the
    signature from meaning anything else."""
    return FORMAT.encode() + b" manifest\n" + manifest_json


# ------------------------------------------------------------------------------------ export

def export(spool: Spool, *, output: str, path: Path, agent: str, site: str,
           key: Ed25519PrivateKey, since_ns: int | None = None, until_ns: int | None = None,
           mark_sent: bool = False, now_ns: int | None = None) -> Exported:
    """Write the points `output` has not received (since ≤ time < until) to `path`, signed
    with `key`. With `mark_sent` they leave the output's queue once the file is on disk.
    """
    path = Path(path)
    partial = path.with_name(path.name + ".partial")
    points_tmp = path.with_name(path.name + ".points.partial")
    counts: dict[str, int] = {}
    sites: set[str] = set()
    first = last = None
    size = unreadable = 0
    exported: list[int] = []
    digest = hashlib.sha256()
    try:
        with _private(points_tmp) as raw:
            hashing = _HashingWriter(raw, digest)
            with gzip.GzipFile(fileobj=hashing, mode="wb", compresslevel=_GZIP_LEVEL,
                               mtime=0) as gz:
                after = 0
                while (batch := spool.next_batch(output, _PAGE, after_id=after)) is not None:
                    after = batch.ids[-1]
                    for point_id, line in zip(batch.ids, batch.lines, strict=True):
                        try:
                            sample = decode(line)
                            # as this version writes it (a spool of an older one may hold
                            # a raw newline), so the importer's strict reading accepts it
                            line = encode(sample)
                        except (LineProtocolError, UnicodeDecodeError):
                            unreadable += 1     # stays queued: never marked as sent
                            continue
                        t = sample.time_ns
                        if (since_ns is not None and t < since_ns) or \
                                (until_ns is not None and t >= until_ns):
                            continue
                        gz.write(line + b"\n")
                        size += len(line) + 1
                        counts[sample.measurement] = counts.get(sample.measurement, 0) + 1
                        if "site" in sample.tags:
                            sites.add(sample.tags["site"])
                        first = t if first is None else min(first, t)
                        last = t if last is None else max(last, t)
                        if mark_sent:
                            exported.append(point_id)
            raw.flush()
            os.fsync(raw.fileno())
        manifest = Manifest(
            format=FORMAT, agent=agent, site=site, sites=tuple(sorted(sites)), output=output,
            points=sum(counts.values()), measurements=dict(sorted(counts.items())),
            first_ns=first, last_ns=last, since_ns=since_ns, until_ns=until_ns,
            sha256=digest.hexdigest(), points_bytes=size,
            created_ns=time.time_ns() if now_ns is None else now_ns, marked_sent=mark_sent)
        _write_tar(partial, manifest, key, points_tmp)
        os.replace(partial, path)
        _fsync_dir(path.parent)
    except OSError as e:
        raise CarryError(f"cannot write {path}: {e.strerror or e}; check the directory "
                         "exists, is writable and has room") from e
    finally:
        for leftover in (points_tmp, partial):
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()
    for i in range(0, len(exported), _PAGE):
        spool.mark_carried(output, exported[i:i + _PAGE])
    return Exported(manifest, unreadable)


@dataclass(frozen=True)
class Exported:
    manifest: Manifest
    unreadable: int         # queued points that could not be read back, left in the queue


@contextlib.contextmanager
def _private(path: Path) -> Iterator[IO[bytes]]:
    """`path` created afresh for writing, readable by its owner only whatever the umask."""
    with contextlib.suppress(FileNotFoundError):
        path.unlink()                       # a leftover of an interrupted export
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    with os.fdopen(fd, "wb") as f:
        yield f


class _HashingWriter(io.RawIOBase):
    """Passes bytes on to `sink`, hashing them (the checksum of the compressed member)."""

    def __init__(self, sink: IO[bytes], digest) -> None:
        self._sink = sink
        self._digest = digest

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self._digest.update(data)
        return self._sink.write(data)


def _write_tar(path: Path, manifest: Manifest, key: Ed25519PrivateKey, points: Path) -> None:
    body = manifest.to_json()
    signature = json.dumps({
        "public_key": public_text(key),
        "signature": base64.b64encode(sign(key, signed_message(body))).decode(),
    }, indent=2, sort_keys=True).encode() + b"\n"
    mtime = manifest.created_ns // 10**9
    with _private(path) as f:
        with tarfile.open(fileobj=f, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for name, data in ((MANIFEST, body), (SIGNATURE, signature)):
                info = tarfile.TarInfo(name)
                info.size, info.mtime, info.mode = len(data), mtime, FILE_MODE
                tar.addfile(info, io.BytesIO(data))
            info = tar.gettarinfo(str(points), arcname=POINTS)
            info.mtime, info.mode, info.uid, info.gid = mtime, FILE_MODE, 0, 0
            info.uname = info.gname = ""
            with points.open("rb") as src:
                tar.addfile(info, src)
        f.flush()
        os.fsync(f.fileno())


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


# ------------------------------------------------------------------------------------ import

@contextlib.contextmanager
def _points_of(points: Path) -> Iterator[Iterator[bytes]]:
    """The lines of a checked copy of points.lp.gz, one point at a time, without the newline."""
    with gzip.open(points, "rb") as gz:
        yield (line.rstrip(b"\n") for line in gz)


@dataclass(frozen=True)
class _Batch:
    ids: tuple[int, ...]
    lines: tuple[bytes, ...]


@dataclass(frozen=True)
class _QueueStats:
    output: str
    queued: int


@dataclass(frozen=True)
class _Stats:
    outputs: tuple[_QueueStats, ...]


@dataclass
class FileQueue:
    """An export's lines as a send queue for the shipper, read as they are needed.

    Only the unacknowledged lines of the batch in flight are held in memory.
    """

    output: str
    lines: Iterator[bytes]
    total: int
    pending: dict[int, bytes] = field(default_factory=dict)
    acked: int = 0
    dead: list[tuple[bytes, str]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    _next_id: int = 1
    _exhausted: bool = False

    @property
    def done(self) -> bool:
        return self._exhausted and not self.pending

    def next_batch(self, output: str, limit: int, *, after_id: int = 0) -> _Batch | None:
        while len(self.pending) < limit and not self._exhausted:
            line = next(self.lines, None)
            if line is None:
                self._exhausted = True
                break
            self.pending[self._next_id] = line
            self._next_id += 1
        ids = [i for i in self.pending if i > after_id][:limit]
        if not ids:
            return None
        return _Batch(tuple(ids), tuple(self.pending[i] for i in ids))

    def ack(self, output: str, ids: Sequence[int]) -> None:
        for i in ids:
            if self.pending.pop(i, None) is not None:
                self.acked += 1

    def dead_letter(self, output: str, ids: Sequence[int], message: str) -> None:
        for i in ids:
            line = self.pending.pop(i, None)
            if line is not None:
                self.dead.append((line, message))

    def record_send_error(self, output: str, message: str) -> None:
        self.errors.append(message)

    def stats(self) -> _Stats:
        return _Stats((_QueueStats(self.output, self.total - self.acked - len(self.dead)),))


@dataclass(frozen=True)
class Delivery:
    """What one import did for one output."""

    output: str
    points: int                     # in the file
    delivered: int                  # acknowledged by the server
    dead_letters: list[tuple[bytes, str]]
    error: str | None               # why it stopped early; None when it went through
    seconds: float

    @property
    def complete(self) -> bool:
        return self.error is None and self.delivered + len(self.dead_letters) == self.points


class _Watched:
    """A writer that remembers the class of its last answer (to stop on a fatal one)."""

    def __init__(self, writer: Writer) -> None:
        self._writer = writer
        self.last: WriteResult | None = None

    def write(self, body: bytes) -> WriteResult:
        self.last = self._writer.write(body)
        return self.last

    def close(self) -> None:
        self._writer.close()


async def deliver(points: Path, manifest: Manifest, output: InfluxOutput, *,
                  give_up_after: float = 600.0, pacing: Pacing | None = None,
                  writer: Writer | None = None) -> Delivery:
    """Ship `points` (an export's points.lp.gz, as carry_reader checked it) to `output`
    through the agent's shipper.

    Retries (5xx, 429, timeouts, resets) go on for `give_up_after` seconds; an answer that
    needs an admin (401/403/404) stops at once with its message.
    """
    from linkwatch.agent.outputs.result import Status
    from linkwatch.agent.outputs.shipper import Pacing, ShipperState, ship
    from linkwatch.agent.outputs.version import open_writer

    pacing = pacing or Pacing(backoff_cap=30.0)
    watched = _Watched(writer if writer is not None else open_writer(output))
    started = time.monotonic()
    with _points_of(points) as lines:
        queue = FileQueue(output.queue_name, lines, manifest.points)
        stop, state = asyncio.Event(), ShipperState()
        error: str | None = None

        async def watch() -> None:
            nonlocal error
            while not stop.is_set():
                last = watched.last
                if queue.done:
                    stop.set()
                elif last is not None and last.status is Status.FATAL:
                    error = state.last_error or last.message
                    stop.set()
                elif time.monotonic() - started > give_up_after:
                    error = f"gave up after {give_up_after:g}s: {state.last_error}"
                    stop.set()
                await asyncio.sleep(0.02)

        watcher = asyncio.create_task(watch())
        await ship(queue, output, stop=stop, writer=watched, pacing=pacing, state=state)
        stop.set()
        await watcher
    return Delivery(output.queue_name, manifest.points, queue.acked, queue.dead, error,
                    time.monotonic() - started)
