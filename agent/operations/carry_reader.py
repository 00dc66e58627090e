"""Reading an export that arrives from outside: bounded, authenticated, every line checked.

A file on a USB stick is hostile until checked. In this order, cheap checks first, and
nothing is sent until every one has passed:

1. the tar: only manifest.json, signature.json and points.lp.gz, each a regular file (no
   link, device, directory or sparse member) within its size cap, read header by header
   before the tar library sees it;
2. the manifest: a JSON object with exactly the keys and types an export writes;
3. the signature: by a key the importing config lists for the manifest's agent
   (`carry.trusted`). An unsigned file, or one signed by a key not listed, is refused
   unless the caller allows unverified files;
4. the points: copied to a private file while hashed, and the hash is the manifest's
   (so what is sent is what was checked, whatever happens to the file meanwhile);
5. every line: at most 64 KiB; exactly as an agent writes it (the strict decoder); its
   measurement, tags, fields and types in the data model; its `agent` tag the manifest's
   agent and its `site` one of that agent's sites; its time inside the manifest's range and
   not in the future; and in all as many lines, per measurement and uncompressed bytes as
   the manifest says.

Anything else raises CarryError with one line: the file, the line number where there is one,
what is wrong, and that nothing was imported.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import gzip
import hashlib
import json
import os
import tarfile
import tempfile
import zlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from linkwatch.agent.config.schema import TrustedAgent
from linkwatch.agent.datamodel.lineprotocol import LineProtocolError, decode_strict
from linkwatch.agent.datamodel.model import Measurement, measurements
from linkwatch.agent.operations.carry import (
    FORMAT,
    FORMAT_UNSIGNED,
    MANIFEST,
    POINTS,
    SIGNATURE,
    CarryError,
    Manifest,
    signed_message,
)
from linkwatch.agent.operations.signing import verify

MANIFEST_MAX = 64 * 1024
SIGNATURE_MAX = 4 * 1024
PAX_HEADER_MAX = 4 * 1024
LINE_MAX = 64 * 1024                # the longest line an agent writes is a few KiB
DEFAULT_MAX_BYTES = 8 * 2**30       # uncompressed points, unless the caller says otherwise
CLOCK_SKEW_NS = 300 * 10**9         # two machines' clocks may differ by this much
_MEMBERS = (MANIFEST, SIGNATURE, POINTS)
_BLOCK = 512
_COPY_CHUNK = 1 << 20
_INT64 = (-(2**63), 2**63 - 1)


@dataclass(frozen=True)
class Checked:
    """An export that passed every check, and the private copy of its points to send."""

    manifest: Manifest
    signer: TrustedAgent | None     # None: not signed by a listed key (--unverified)
    signed_by: str | None           # the public key that signed it, listed or not
    points: Path                    # points.lp.gz exactly as checked


@contextlib.contextmanager
def checked_export(path: Path, *, trusted: Sequence[TrustedAgent], allow_unverified: bool,
                   now_ns: int, max_bytes: int = DEFAULT_MAX_BYTES,
                   model: Mapping[str, Measurement] | None = None) -> Iterator[Checked]:
    """The export at `path` once every check passed; its private copy is removed on exit.

    Raises CarryError, whose message is one line, for anything that is not an export the
    config's `trusted` agents made (or, with `allow_unverified`, a well-formed one).
    `model`: the measurements the lines may hold (default: agent.datamodel's, with the
    shipped device profiles).
    """
    path = Path(path)
    fd, name = tempfile.mkstemp(prefix="linkwatch-import-", suffix=".lp.gz")
    copy = Path(name)
    try:
        with os.fdopen(fd, "wb") as out:
            manifest, signature = _read_archive(path, out)
        checked = _authenticate(path, manifest, signature, trusted, allow_unverified, copy)
        _check_manifest(path, manifest, now_ns)
        _check_lines(path, checked, trusted, now_ns, max_bytes,
                     measurements() if model is None else model)
        yield checked
    finally:
        with contextlib.suppress(FileNotFoundError):
            copy.unlink()


def _refuse(path: Path, what: str) -> CarryError:
    text = " ".join(what.split())       # one line, whatever the cause quoted
    return CarryError(f"{path}: {text}; nothing was imported")


# ------------------------------------------------------------------------------- the tar

def _read_archive(path: Path, points_out: IO[bytes]) -> tuple[Manifest, Signature | None]:
    """The manifest and the signature (None: unsigned); the points member is copied to
    `points_out`, and its SHA-256 checked against the manifest."""
    if not path.is_file():
        raise _refuse(path, "not a regular file")
    try:
        with path.open("rb") as f:
            _scan_headers(path, f)
            f.seek(0)
            with tarfile.open(fileobj=f, mode="r:") as tar:
                members = _members(path, tar)
                if MANIFEST not in members or POINTS not in members:
                    missing = MANIFEST if MANIFEST not in members else POINTS
                    raise _refuse(path, f"no {missing} inside: not a linkwatch export "
                                  "(`linkwatch spool export -o FILE` writes one)")
                body = _small(tar, members[MANIFEST], MANIFEST_MAX)
                manifest = _manifest(path, body)
                raw_signature = (_small(tar, members[SIGNATURE], SIGNATURE_MAX)
                                 if SIGNATURE in members else None)
                digest = _copy(tar, members[POINTS], points_out)
    except CarryError:
        raise
    except (tarfile.TarError, EOFError, OSError, zlib.error, ValueError,
            UnicodeError, OverflowError) as e:
        raise _refuse(path, f"not a readable linkwatch export ({type(e).__name__}: "
                      f"{str(e)[:100]}); copy the file again from the agent, or export "
                      "again") from e
    if digest != manifest.sha256:
        raise _refuse(path, f"{POINTS} does not match the SHA-256 in its manifest (the file "
                      "was damaged or changed on the way); copy it again")
    signature = None if raw_signature is None else _signature(path, raw_signature, body)
    return manifest, signature


def _scan_headers(path: Path, f: IO[bytes]) -> None:
    """Walk the raw tar headers: regular files and small pax headers only, few of them.

    The tar library would read a pax header of any size into memory and expand sparse
    members; this refuses such a file before it sees it.
    """
    size = os.fstat(f.fileno()).st_size
    offset = seen = 0
    while True:
        header = f.read(_BLOCK)
        if len(header) < _BLOCK:
            raise _refuse(path, "the file ends inside the tar (truncated): copy it again")
        if header == bytes(_BLOCK):
            return
        seen += 1
        if seen > 2 * len(_MEMBERS):
            raise _refuse(path, "more members than an export has: not a linkwatch export")
        kind = header[156:157]
        try:
            length = _tar_number(header[124:136])
        except ValueError as e:
            raise _refuse(path, f"a damaged tar header at byte {offset}") from e
        if kind == b"x":
            if length > PAX_HEADER_MAX:
                raise _refuse(path, f"a tar extended header of {length} bytes at byte "
                              f"{offset}: not a linkwatch export")
            if b"GNU.sparse." in f.read(length):
                raise _refuse(path, f"a sparse tar member at byte {offset}: not a plain "
                              "file, not a linkwatch export")
        elif kind not in (b"0", b"\0"):
            raise _refuse(path, f"a tar member that is not a plain file (type "
                          f"{kind.decode('latin-1')!r}) at byte {offset}: not a linkwatch "
                          "export")
        data = (length + _BLOCK - 1) // _BLOCK * _BLOCK
        offset += _BLOCK + data
        if length < 0 or offset > size:
            raise _refuse(path, "a tar member runs past the end of the file (truncated): "
                          "copy it again")
        f.seek(offset)



def _tar_number(field: bytes) -> int:
    """A tar header's size: octal digits (NUL or space ended), or GNU's base-256 form
    (first byte 0x80). Raises ValueError for anything else, a negative size included."""
    if field[:1] == b"\x80":
        return int.from_bytes(field[1:], "big")
    digits = field.split(b"\0", 1)[0].strip()
    if not digits:
        return 0
    if any(c not in b"01234567" for c in digits):
        raise ValueError(f"not an octal number: {digits!r}")
    return int(digits, 8)

def _members(path: Path, tar: tarfile.TarFile) -> dict[str, tarfile.TarInfo]:
    found: dict[str, tarfile.TarInfo] = {}
    for member in tar:
        if member.name not in _MEMBERS:
            raise _refuse(path, f"an unexpected member {member.name!r}: not a linkwatch export")
        if member.name in found:
            raise _refuse(path, f"{member.name} appears twice: not a linkwatch export")
        if not member.isreg() or member.issparse():
            raise _refuse(path, f"{member.name} is not a plain file: not a linkwatch export")
        found[member.name] = member
    return found


def _small(tar: tarfile.TarFile, member: tarfile.TarInfo, limit: int) -> bytes:
    if member.size > limit:
        raise CarryError(f"{member.name} is {member.size} bytes, more than an export's "
                         f"{limit}; nothing was imported")
    source = tar.extractfile(member)
    assert source is not None            # a regular file, checked above
    return source.read(limit + 1)


def _copy(tar: tarfile.TarFile, member: tarfile.TarInfo, out: IO[bytes]) -> str:
    source = tar.extractfile(member)
    assert source is not None
    digest = hashlib.sha256()
    while data := source.read(_COPY_CHUNK):
        digest.update(data)
        out.write(data)
    out.flush()
    return digest.hexdigest()


# ------------------------------------------------------------------ manifest and signature

# Every key of a manifest and its type; `int | None` fields may be null.
_KEYS: dict[str, tuple[type, bool]] = {
    "format": (str, False), "agent": (str, False), "site": (str, False),
    "sites": (list, False), "output": (str, False), "points": (int, False),
    "measurements": (dict, False), "first_ns": (int, True), "last_ns": (int, True),
    "since_ns": (int, True), "until_ns": (int, True), "sha256": (str, False),
    "points_bytes": (int, False), "created_ns": (int, False), "marked_sent": (bool, False),
}
_UNSIGNED_KEYS = {k: v for k, v in _KEYS.items() if k not in ("sites", "points_bytes")}


def _manifest(path: Path, data: bytes) -> Manifest:
    try:
        raw = json.loads(data)
    except (ValueError, RecursionError) as e:
        raise _refuse(path, f"{MANIFEST} is not JSON ({type(e).__name__}); export again") from e
    if not isinstance(raw, dict):
        raise _refuse(path, f"{MANIFEST} is not a JSON object; export again")
    form = raw.get("format")
    if form not in (FORMAT, FORMAT_UNSIGNED):
        shown = form if isinstance(form, str) else type(form).__name__
        raise _refuse(path, f"format {shown[:40]!r}: this linkwatch reads {FORMAT!r} and "
                      f"{FORMAT_UNSIGNED!r}; import it with the linkwatch that wrote it")
    keys = _KEYS if form == FORMAT else _UNSIGNED_KEYS
    if set(raw) != set(keys):
        odd = sorted(set(raw) ^ set(keys))
        raise _refuse(path, f"{MANIFEST} is not a linkwatch manifest (keys {odd[:4]} "
                      "missing or unknown); export again")
    for key, (kind, nullable) in keys.items():
        value = raw[key]
        if value is None and nullable:
            continue
        if type(value) is not kind or (isinstance(value, int)
                                       and not _INT64[0] <= value <= _INT64[1]):
            expected = "an integer" if kind is int else f"a {kind.__name__}"
            raise _refuse(path, f"{MANIFEST}: {key} is not {expected}; export again")
    counts = raw["measurements"]
    if not all(isinstance(k, str) and type(v) is int and 0 <= v <= _INT64[1]
               for k, v in counts.items()):
        raise _refuse(path, f"{MANIFEST}: measurements must map names to counts; export again")
    sites = raw.get("sites", [raw["site"]])
    if not all(isinstance(s, str) for s in sites):
        raise _refuse(path, f"{MANIFEST}: sites must be names; export again")
    sha = raw["sha256"]
    if len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha):
        raise _refuse(path, f"{MANIFEST}: sha256 is not a SHA-256 digest; export again")
    return Manifest(**{**raw, "sites": tuple(sites), "points_bytes": raw.get("points_bytes")})


@dataclass(frozen=True)
class Signature:
    public_key: str
    signature: bytes
    message: bytes              # what it signs: the manifest's bytes as stored, labelled


def _signature(path: Path, data: bytes, manifest_body: bytes) -> Signature:
    try:
        raw = json.loads(data)
    except (ValueError, RecursionError) as e:
        raise _refuse(path, f"{SIGNATURE} is not JSON; export again") from e
    if not isinstance(raw, dict) or set(raw) != {"public_key", "signature"} or \
            not all(isinstance(v, str) for v in raw.values()):
        raise _refuse(path, f"{SIGNATURE} is not a linkwatch signature; export again")
    try:
        signature = base64.b64decode(raw["signature"], validate=True)
    except (binascii.Error, ValueError) as e:
        raise _refuse(path, f"{SIGNATURE}: the signature is not base64; export again") from e
    return Signature(raw["public_key"], signature, signed_message(manifest_body))


def _authenticate(path: Path, manifest: Manifest, signature: Signature | None,
                  trusted: Sequence[TrustedAgent], allow_unverified: bool,
                  points: Path) -> Checked:
    listed = [t for t in trusted if t.agent == manifest.agent]
    signed_by = None if signature is None else signature.public_key
    if manifest.format == FORMAT and signature is None:
        raise _refuse(path, f"the manifest says {FORMAT} but {SIGNATURE} is missing: the file "
                      "was changed after export")
    if signature is not None:
        for entry in listed:
            if entry.public_key == signed_by and verify(entry.public_key, signature.message,
                                                        signature.signature):
                return Checked(manifest, entry, signed_by, points)
        if any(entry.public_key == signed_by for entry in listed):
            raise _refuse(path, "the signature does not match the manifest: the file was "
                          "changed after it was exported")
    if allow_unverified:
        return Checked(manifest, None, signed_by, points)
    agent = manifest.agent[:64]
    if signature is None:
        raise _refuse(path, "the file is not signed (an export of an older linkwatch, or "
                      "made by hand): export it again with this version, or, if you know "
                      "where it comes from, import it with --unverified")
    if not listed:
        raise _refuse(path, f"agent {agent!r} is not listed under carry.trusted: ask that "
                      "agent's operator for its public key (`linkwatch keys` there), "
                      "compare it by telephone, and add it with the agent's sites")
    raise _refuse(path, f"signed by a key that carry.trusted does not list for agent "
                  f"{agent!r}: if that agent has a new key, compare it with its operator "
                  "before listing it")


def _check_manifest(path: Path, manifest: Manifest, now_ns: int) -> None:
    if manifest.created_ns > now_ns + CLOCK_SKEW_NS:
        raise _refuse(path, "the manifest was created in the future (check both clocks)")
    if manifest.points < 0 or sum(manifest.measurements.values()) != manifest.points:
        raise _refuse(path, "the manifest's counts do not add up; export again")
    if (manifest.first_ns is None) != (manifest.points == 0) or \
            (manifest.last_ns is None) != (manifest.points == 0):
        raise _refuse(path, "the manifest's time range does not fit its count; export again")
    if manifest.first_ns is not None and manifest.last_ns is not None and not \
            manifest.first_ns <= manifest.last_ns <= manifest.created_ns:
        raise _refuse(path, "the manifest's time range is not before its creation; export "
                      "again")


# -------------------------------------------------------------------------------- lines

def _check_lines(path: Path, checked: Checked, trusted: Sequence[TrustedAgent],
                 now_ns: int, max_bytes: int, model: Mapping[str, Measurement]) -> None:
    manifest = checked.manifest
    sites = _allowed_sites(checked, trusted)
    first, last = manifest.first_ns, manifest.last_ns
    limit = min(max_bytes, manifest.points_bytes if manifest.points_bytes is not None
                else max_bytes)
    counts: dict[str, int] = {}
    number = size = 0
    try:
        with gzip.open(checked.points, "rb") as gz:
            while line := gz.readline(LINE_MAX + 1):
                number += 1
                size += len(line)
                if number > manifest.points:
                    raise _refuse(path, f"line {number}: more points than the manifest's "
                                  f"{manifest.points}")
                if size > limit:
                    raise _refuse(path, f"line {number}: the points pass {limit} bytes "
                                  + ("(the manifest's size)" if limit < max_bytes else
                                     "(--max-size)"))
                if not line.endswith(b"\n"):
                    raise _refuse(path, f"line {number}: " + (
                        f"longer than {LINE_MAX} bytes" if len(line) > LINE_MAX
                        else "the points end inside a line"))
                reason = _line_problem(line[:-1], manifest, sites, first, last, now_ns,
                                       model, counts)
                if reason:
                    raise _refuse(path, f"line {number}: {reason}")
    except CarryError:
        raise
    except (OSError, EOFError, zlib.error) as e:
        raise _refuse(path, f"{POINTS} is not readable gzip after line {number} "
                      f"({type(e).__name__}); export again") from e
    if number != manifest.points or counts != manifest.measurements:
        raise _refuse(path, f"{number} points in {POINTS}, the manifest says "
                      f"{manifest.points} (or other counts per measurement); export again")
    if manifest.points_bytes is not None and size != manifest.points_bytes:
        raise _refuse(path, f"{POINTS} holds {size} bytes, the manifest says "
                      f"{manifest.points_bytes}; export again")


def _allowed_sites(checked: Checked, trusted: Sequence[TrustedAgent]) -> frozenset[str]:
    if checked.signer is not None:
        return frozenset(checked.signer.sites)
    listed = [s for t in trusted if t.agent == checked.manifest.agent for s in t.sites]
    return frozenset(listed or checked.manifest.sites)


def _line_problem(line: bytes, manifest: Manifest, sites: frozenset[str], first: int | None,
                  last: int | None, now_ns: int, model: Mapping[str, Measurement],
                  counts: dict[str, int]) -> str | None:
    try:
        sample = decode_strict(line)
    except LineProtocolError as e:
        return str(e)[:200]
    kind = model.get(sample.measurement)
    if kind is None:
        return f"measurement {sample.measurement[:64]!r} is not one linkwatch writes"
    wrong = kind.problem(sample)
    if wrong:
        return wrong[:200]
    agent, site = sample.tags.get("agent"), sample.tags.get("site")
    if agent != manifest.agent:
        return (f"tag agent is {str(agent)[:64]!r}, but the export is agent "
                f"{manifest.agent[:64]!r}'s")
    if site not in sites:
        return (f"tag site is {str(site)[:64]!r}, not one of the sites listed for agent "
                f"{manifest.agent[:64]!r} ({', '.join(sorted(sites))[:200]})")
    t = sample.time_ns
    if first is None or last is None or not first <= t <= last:
        return f"time {t} is outside the manifest's range {first} to {last}"
    if (manifest.since_ns is not None and t < manifest.since_ns) or \
            (manifest.until_ns is not None and t >= manifest.until_ns):
        return f"time {t} is outside the range the export was asked for"
    if t > now_ns + CLOCK_SKEW_NS:
        return f"time {t} is in the future"
    counts[sample.measurement] = counts.get(sample.measurement, 0) + 1
    return None
