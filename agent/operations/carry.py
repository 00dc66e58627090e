"""Offline carry-out: the points an output has not received, as one file, and back in.

A commune with no link (or one down for weeks) exports its backlog to a file, someone carries
it to a place with a link, and `linkwatch spool import` writes it to InfluxDB there.

The file is one uncompressed tar with two members, so nothing can be separated on the way:

    manifest.json    format, agent, site, output, the requested and the actual time range,
                     point count per measurement and in all, SHA-256 of points.lp.gz
    points.lp.gz     gzip line protocol, one point a line, ns precision, in spool order
                     (each series oldest first): exactly the bytes the agent would have sent

`tar xf FILE && curl --data-binary @points.lp.gz -H 'Content-Encoding: gzip' ...` works too.

Export marks nothing as sent unless asked (`mark_sent`): then the exported points leave the
output's queue, only once the file is complete on disk (written to FILE.partial, fsynced,
renamed). Import verifies the checksum and the count before it sends anything, then ships
the lines through the agent's own shipper (same batch size, gzip, backoff, Retry-After,
splitting of rejected batches into dead letters). Importing the same file twice changes
nothing downstream: InfluxDB keeps one value per series and timestamp, and the values are
the same.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import hashlib
import io
import json
import os
import tarfile
import time
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING

from linkwatch.agent.config.schema import InfluxOutput
from linkwatch.agent.spool import Spool

if TYPE_CHECKING:     # imported when used: a carry export needs no HTTP client
    from linkwatch.agent.outputs.result import Writer, WriteResult
    from linkwatch.agent.outputs.shipper import Pacing

FORMAT = "linkwatch-export/1"
MANIFEST = "manifest.json"
POINTS = "points.lp.gz"
_PAGE = 5000                    # points read from the spool per query
_GZIP_LEVEL = 6                 # a file carried by hand: smaller beats faster


class CarryError(Exception):
    """An export or import that cannot go on; the message names the file and the fix."""


@dataclass(frozen=True)
class Manifest:
    format: str
    agent: str
    site: str
    output: str                     # the send queue the points were taken from
    points: int
    measurements: dict[str, int]    # points per measurement
    first_ns: int | None            # collection time of the oldest point in the file
    last_ns: int | None             # … and of the newest
    since_ns: int | None            # the range asked for (None: open)
    until_ns: int | None
    sha256: str                     # of the points.lp.gz member, as stored
    created_ns: int
    marked_sent: bool

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), indent=2, sort_keys=True).encode() + b"\n"

    @classmethod
    def from_json(cls, data: bytes, source: Path) -> Manifest:
        try:
            raw = json.loads(data)
            manifest = cls(**raw)
        except (ValueError, TypeError) as e:
            raise CarryError(f"{source}: {MANIFEST} is not a linkwatch manifest ({e}); "
                             "export the points again") from e
        if manifest.format != FORMAT:
            raise CarryError(f"{source}: format {manifest.format!r}, this linkwatch reads "
                             f"{FORMAT!r}; import it with the linkwatch that wrote it")
        return manifest


# ------------------------------------------------------------------------------------ export

def _measurement(line: bytes) -> str:
    # the measurement ends at the first unescaped comma or space
    i = 0
    while i < len(line):
        c = line[i]
        if c == 0x5C:           # backslash: skip the escaped character
            i += 2
            continue
        if c in (0x2C, 0x20):
            break
        i += 1
    return line[:i].replace(b"\\", b"").decode("utf-8", "replace")


def _time_ns(line: bytes) -> int:
    return int(line.rsplit(b" ", 1)[1])


def export(spool: Spool, *, output: str, path: Path, agent: str, site: str,
           since_ns: int | None = None, until_ns: int | None = None,
           mark_sent: bool = False, now_ns: int | None = None) -> Manifest:
    """Write the points `output` has not received (since ≤ time < until) to `path`.

    With `mark_sent` they leave the output's queue once the file is safely on disk.
    """
    path = Path(path)
    partial = path.with_name(path.name + ".partial")
    points_tmp = path.with_name(path.name + ".points.partial")
    counts: dict[str, int] = {}
    first = last = None
    exported: list[int] = []
    digest = hashlib.sha256()
    try:
        with points_tmp.open("wb") as raw:
            hashing = _HashingWriter(raw, digest)
            with gzip.GzipFile(fileobj=hashing, mode="wb", compresslevel=_GZIP_LEVEL,
                               mtime=0) as gz:
                after = 0
                while (batch := spool.next_batch(output, _PAGE, after_id=after)) is not None:
                    after = batch.ids[-1]
                    for point_id, line in zip(batch.ids, batch.lines, strict=True):
                        t = _time_ns(line)
                        if (since_ns is not None and t < since_ns) or \
                                (until_ns is not None and t >= until_ns):
                            continue
                        gz.write(line + b"\n")
                        name = _measurement(line)
                        counts[name] = counts.get(name, 0) + 1
                        first = t if first is None else min(first, t)
                        last = t if last is None else max(last, t)
                        if mark_sent:
                            exported.append(point_id)
            raw.flush()
            os.fsync(raw.fileno())
        manifest = Manifest(
            format=FORMAT, agent=agent, site=site, output=output,
            points=sum(counts.values()), measurements=dict(sorted(counts.items())),
            first_ns=first, last_ns=last, since_ns=since_ns, until_ns=until_ns,
            sha256=digest.hexdigest(), created_ns=time.time_ns() if now_ns is None else now_ns,
            marked_sent=mark_sent)
        _write_tar(partial, manifest, points_tmp)
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
    return manifest


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


def _write_tar(path: Path, manifest: Manifest, points: Path) -> None:
    with path.open("wb") as f:
        with tarfile.open(fileobj=f, mode="w", format=tarfile.PAX_FORMAT) as tar:
            body = manifest.to_json()
            info = tarfile.TarInfo(MANIFEST)
            info.size, info.mtime, info.mode = len(body), manifest.created_ns // 10**9, 0o644
            tar.addfile(info, io.BytesIO(body))
            info = tar.gettarinfo(str(points), arcname=POINTS)
            info.mtime, info.mode, info.uid, info.gid = manifest.created_ns // 10**9, 0o644, 0, 0
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

def read_manifest(path: Path) -> Manifest:
    """The manifest of an export, after checking the points against its checksum and count."""
    path = Path(path)
    try:
        with tarfile.open(path, mode="r:") as tar:
            manifest = Manifest.from_json(_member(tar, MANIFEST, path).read(), path)
            digest, member = hashlib.sha256(), _member(tar, POINTS, path)
            while data := member.read(1 << 20):
                digest.update(data)
            if digest.hexdigest() != manifest.sha256:
                raise CarryError(f"{path}: {POINTS} does not match the SHA-256 in its manifest "
                                 "(the file was damaged on the way); copy it again, nothing "
                                 "was imported")
            lines = 0
            with gzip.GzipFile(fileobj=_member(tar, POINTS, path), mode="rb") as gz:
                for _ in gz:
                    lines += 1
    except (tarfile.TarError, EOFError, OSError, zlib.error) as e:
        raise CarryError(f"{path}: not a readable linkwatch export ({e}); copy the file "
                         "again from the agent, or export again") from e
    if lines != manifest.points:
        raise CarryError(f"{path}: {lines} points in {POINTS}, the manifest says "
                         f"{manifest.points}; export again, nothing was imported")
    return manifest


def _member(tar: tarfile.TarFile, name: str, path: Path) -> IO[bytes]:
    try:
        member = tar.extractfile(name)
    except KeyError:
        member = None
    if member is None:
        raise CarryError(f"{path}: no {name} inside; is it a linkwatch export "
                         "(`linkwatch spool export -o FILE`)?")
    return member


@contextlib.contextmanager
def exported_lines(path: Path) -> Iterator[Iterator[bytes]]:
    """The line protocol of an export, one point at a time, without the newline."""
    with tarfile.open(path, mode="r:") as tar, \
            gzip.GzipFile(fileobj=_member(tar, POINTS, Path(path)), mode="rb") as gz:
        yield (line.rstrip(b"\n") for line in gz if line.strip())


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


async def deliver(path: Path, manifest: Manifest, output: InfluxOutput, *,
                  give_up_after: float = 600.0, pacing: Pacing | None = None,
                  writer: Writer | None = None) -> Delivery:
    """Ship the export at `path` to `output` through the agent's shipper.

    Retries (5xx, 429, timeouts, resets) go on for `give_up_after` seconds; an answer that
    needs an admin (401/403/404) stops at once with its message.
    """
    from linkwatch.agent.outputs.result import Status
    from linkwatch.agent.outputs.shipper import Pacing, ShipperState, ship
    from linkwatch.agent.outputs.version import open_writer

    pacing = pacing or Pacing(backoff_cap=30.0)
    watched = _Watched(writer if writer is not None else open_writer(output))
    started = time.monotonic()
    with exported_lines(path) as lines:
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
