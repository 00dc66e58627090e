"""Logging for the agent: one entry per event, in the journal with its fields, or one line
on stderr.

Under systemd, stderr is connected to journald. The agent then sends each event to the
journal's native socket as structured fields (systemd.journal-fields(7)): MESSAGE,
PRIORITY, SYSLOG_IDENTIFIER=linkwatch, LOGGER (the Python logger), CODE_FILE, CODE_LINE,
CODE_FUNC, and what the event is about as LINKWATCH_* fields (`extra={"journal": {"check":
"ngoc-vung", "kind": "ping", "state": "down"}}` becomes LINKWATCH_CHECK=…, LINKWATCH_KIND=…,
LINKWATCH_STATE=…), so `journalctl -u linkwatch-agent LINKWATCH_CHECK=ngoc-vung` finds them.
When the socket cannot take an entry (journald restarting, an entry too large), the line
goes to the stderr stream with a `<N>` prefix that journald reads as its priority
(sd-daemon(3)). Anywhere else the line carries its own time and level name:

    linkwatch.ping: ping ngoc-vung: no reply from 203.0.113.10 to 5 echoes     (journal)
    2026-11-27 10:00:00 WARNING linkwatch.ping: ping ngoc-vung: no reply ...    (terminal)

Usage:

    logging_ = configure_logging(level=logging.INFO, secrets=config_secret_values)
    ...
    logging_.redactor.replace(new_secret_values)  # after a config reload
"""

from __future__ import annotations

import logging
import os
import socket
import struct
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TextIO

from linkwatch.agent.text import log_duration, printable
from linkwatch.collector.units import Secret

JOURNAL_SOCKET = "/run/systemd/journal/socket"
PLAIN_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
PLAIN_DATEFMT = "%Y-%m-%d %H:%M:%S"
REDACTED = "***"


def stderr_is_journal(
    stream: TextIO | None = None, environ: Mapping[str, str] | None = None
) -> bool:
    """True when `stream` (default stderr) is the journald stream systemd connected.

    systemd sets $JOURNAL_STREAM to "device:inode" of that stream. Comparing it with the
    stream itself, rather than trusting the variable alone, keeps `linkwatch ... 2>file`
    run from a service shell plain: the variable is inherited but the file is not the journal.
    """
    stream = sys.stderr if stream is None else stream
    environ = os.environ if environ is None else environ
    value = environ.get("JOURNAL_STREAM", "")
    device, _, inode = value.partition(":")
    if not (device.isdigit() and inode.isdigit()):
        return False
    try:
        st = os.fstat(stream.fileno())
    except (OSError, ValueError):  # closed, or a stream without a file descriptor
        return False
    return (st.st_dev, st.st_ino) == (int(device), int(inode))


def syslog_priority(levelno: int) -> int:
    """The syslog priority journald shows for a Python logging level."""
    if levelno >= logging.CRITICAL:
        return 2
    if levelno >= logging.ERROR:
        return 3
    if levelno >= logging.WARNING:
        return 4
    if levelno >= logging.INFO:
        return 6
    return 7


class _OneLineFormatter(logging.Formatter):
    """Keeps the message on one line; a traceback follows on lines of its own."""

    def format(self, record: logging.LogRecord) -> str:
        # A newline inside a message (an SNMP sysDescr, a server's error body) would forge
        # a second log event, and an escape sequence would rewrite the terminal that shows
        # it; both are shown escaped instead (so is any in a traceback).
        saved_msg, saved_args = record.msg, record.args
        record.msg = printable(record.getMessage(), lines=False)
        record.args = None
        try:
            return printable(super().format(record))
        finally:
            record.msg, record.args = saved_msg, saved_args


class JournalFormatter(_OneLineFormatter):
    """`<N>logger: message`, with `<N>` on every line so a traceback keeps its priority."""

    def __init__(self) -> None:
        super().__init__("%(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        prefix = f"<{syslog_priority(record.levelno)}>"
        return "\n".join(prefix + line for line in super().format(record).split("\n"))


class JournalHandler(logging.Handler):
    """Sends each record to journald's native socket as fields; `fallback` takes the
    records the socket refuses (it is never allowed to block the agent's event loop)."""

    def __init__(self, sock: socket.socket, fallback: logging.Handler) -> None:
        super().__init__()
        self._sock = sock
        self.fallback = fallback
        self.setFormatter(_OneLineFormatter("%(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            fields = {
                "MESSAGE": self.format(record),
                "PRIORITY": str(syslog_priority(record.levelno)),
                "SYSLOG_IDENTIFIER": "linkwatch",
                "LOGGER": record.name,
                "CODE_FILE": record.pathname,
                "CODE_LINE": str(record.lineno),
                "CODE_FUNC": record.funcName,
                **{f"LINKWATCH_{key.upper()}": str(value)
                   for key, value in getattr(record, "journal", {}).items()},
            }
            self._sock.send(journal_entry(fields))
        except OSError:  # full queue, too large, journald gone: the stream still works
            self.fallback.handle(record)
        except Exception:
            self.handleError(record)

    def close(self) -> None:
        self._sock.close()
        self.fallback.close()
        super().close()


def journal_entry(fields: Mapping[str, str]) -> bytes:
    """One entry in journald's native protocol: `KEY=value` lines, and a value holding a
    newline as the key, its length (64-bit little endian) and the bytes."""
    parts = []
    for key, value in fields.items():
        data = value.encode("utf-8", "replace")
        if b"\n" in data:
            parts.append(key.encode() + b"\n" + struct.pack("<Q", len(data)) + data + b"\n")
        else:
            parts.append(key.encode() + b"=" + data + b"\n")
    return b"".join(parts)


def journal_socket(path: str = JOURNAL_SOCKET) -> socket.socket | None:
    """A non-blocking datagram socket connected to journald, or None where there is none."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        sock.connect(path)
    except OSError:
        sock.close()
        return None
    sock.setblocking(False)
    return sock


class PlainFormatter(_OneLineFormatter):
    """`2026-11-27 10:00:00 WARNING logger: message`, in local time."""

    def __init__(self) -> None:
        super().__init__(PLAIN_FORMAT, PLAIN_DATEFMT)


class RedactSecrets(logging.Filter):
    """Replaces every secret value of the config by *** in the message and traceback.

    Secrets are shown as *** by `Secret` already; this catches the revealed value when it
    reaches a message some other way (an exception quoting a URL with a token, a library
    logging its request). Attach it to the handler, so records of every logger pass it.
    """

    def __init__(self, secrets: Iterable[str | Secret] = ()) -> None:
        super().__init__()
        self._secrets: tuple[str, ...] = ()
        self.replace(secrets)

    def replace(self, secrets: Iterable[str | Secret]) -> None:
        """Use a new set of secret values (after a config reload)."""
        # Longest first, so a secret that contains another is hidden whole. Empty values
        # are skipped: replacing "" would put *** between every character.
        values = {s.reveal() if isinstance(s, Secret) else s for s in secrets if s}
        self._secrets = tuple(sorted(values, key=len, reverse=True))

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._secrets:
            return True
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            # A bad format string: the handler reports it when it formats the record.
            return True
        redacted = self.redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


@dataclass
class AgentLogging:
    """The handler the agent installed, with its redaction filter, to undo or update."""

    logger: logging.Logger
    handler: logging.Handler
    redactor: RedactSecrets

    def close(self) -> None:
        self.logger.removeHandler(self.handler)
        self.handler.close()


def configure_logging(
    *,
    level: int = logging.INFO,
    secrets: Iterable[str] = (),
    stream: TextIO | None = None,
    logger: logging.Logger | None = None,
    environ: Mapping[str, str] | None = None,
    native_journal: str = JOURNAL_SOCKET,
) -> AgentLogging:
    """Send `logger`'s records (default: the root logger) to `stream` (default: stderr), or,
    when that stream is the journal, to journald's socket at `native_journal` with fields.

    The root logger is the default so that warnings of the libraries the agent uses
    (pysnmp, influxdb_client) reach the same place, one entry each, redacted too.
    """
    stream = sys.stderr if stream is None else stream
    logger = logging.getLogger() if logger is None else logger
    handler: logging.Handler = logging.StreamHandler(stream)
    journal = stderr_is_journal(stream, environ)
    handler.setFormatter(JournalFormatter() if journal else PlainFormatter())
    sock = journal_socket(native_journal) if journal else None
    if sock is not None:
        handler = JournalHandler(sock, fallback=handler)
    redactor = RedactSecrets(secrets)
    handler.addFilter(redactor)
    logger.addHandler(handler)
    logger.setLevel(level)
    return AgentLogging(logger=logger, handler=handler, redactor=redactor)


@dataclass
class StateLog:
    """Logs changes of state, not states: one line when something goes down, one when it
    comes back, nothing for the cycles in between.

        targets = StateLog(logging.getLogger("linkwatch.ping"))
        targets.down("target ngoc-vung", "no reply to 5 echoes")  # logged
        targets.down("target ngoc-vung", "no reply to 5 echoes")  # silent
        targets.up("target ngoc-vung")  # "target ngoc-vung is back after 12m03s"
    """

    logger: logging.Logger
    monotonic: Callable[[], float] = time.monotonic
    _down_since: dict[str, float] = field(default_factory=dict, init=False)

    def down(self, subject: str, reason: str) -> bool:
        """Record a failed cycle; True when this logged the line (the first failure)."""
        if subject in self._down_since:
            return False
        self._down_since[subject] = self.monotonic()
        self.logger.warning("%s is down: %s", subject, reason)
        return True

    def up(self, subject: str) -> bool:
        """Record a good cycle; True when this logged the line (the first after a failure)."""
        since = self._down_since.pop(subject, None)
        if since is None:
            return False
        self.logger.info("%s is back after %s", subject, log_duration(self.monotonic() - since))
        return True

    def is_down(self, subject: str) -> bool:
        return subject in self._down_since

    def forget(self, subject: str) -> None:
        """Drop a subject that left the config, without logging it as back."""
        self._down_since.pop(subject, None)
