"""The record of every `spool import`: who ran it, when, which file, what it wrote.

One JSON object per line, appended to `carry.journal` (mode 0600), refusals included:

    {"time": "2026-11-30T09:12:03Z", "user": "root", "sudo_user": "it-hoa", "host": "district",
     "file": "/media/usb/ngoc-vung.tar", "file_sha256": "…", "agent": "ngoc-vung-agent",
     "site": "ngoc-vung", "signed_by": "ed25519:…", "verified": true, "points": 86412,
     "written": {"influxdb:linkwatch": 86412}, "result": "written", "reason": null}

The journal is opened before anything is read from the file, so an import that cannot be
recorded does not happen.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import pwd
import socket
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO


class JournalError(Exception):
    """The journal cannot be written; the message names the file and the fix."""


@dataclass
class ImportRecord:
    file: str
    file_sha256: str | None = None
    agent: str | None = None
    site: str | None = None
    signed_by: str | None = None
    verified: bool = False
    points: int = 0
    written: dict[str, int] = field(default_factory=dict)
    result: str = "refused"          # refused, written, incomplete
    reason: str | None = None


def open_journal(path: Path) -> IO[str]:
    """`path` opened for appending (created 0600, its directory 0700 when missing)."""
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    except OSError as e:
        raise JournalError(f"cannot record the import in {path}: {e.strerror}; set "
                           "carry.journal to a writable file, or run as its owner") from e
    return os.fdopen(fd, "a", encoding="utf-8")


def record(journal: IO[str], entry: ImportRecord, *, now: dt.datetime | None = None) -> None:
    """Append `entry`, stamped with the time, the user and the host, and flush it to disk."""
    now = now or dt.datetime.now(dt.UTC)
    uid = os.getuid()
    try:
        user = pwd.getpwuid(uid).pw_name
    except KeyError:
        user = str(uid)
    line = {"time": now.strftime("%Y-%m-%dT%H:%M:%SZ"), "user": user, "uid": uid,
            "sudo_user": os.environ.get("SUDO_USER"), "host": socket.gethostname(),
            **asdict(entry)}
    journal.write(json.dumps(line, ensure_ascii=False, sort_keys=False) + "\n")
    journal.flush()
    os.fsync(journal.fileno())


def file_digest(path: Path) -> str | None:
    """SHA-256 of the whole file, to tell which copy was imported; None if unreadable."""
    if not path.is_file():
        return None
    digest = hashlib.sha256()
    try:
        with path.open("rb") as f:
            while data := f.read(1 << 20):
                digest.update(data)
    except OSError:
        return None
    return digest.hexdigest()
