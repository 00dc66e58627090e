"""Agent log lines as an operator reads them: in a terminal, in the journal, without secrets."""

from __future__ import annotations

import io
import logging
import os
import re
import socket
import struct
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from linkwatch.agent.daemon.logs import (
    StateLog,
    configure_logging,
    stderr_is_journal,
    syslog_priority,
)
from linkwatch.collector.units import Secret


@pytest.fixture
def logger() -> Iterator[logging.Logger]:
    """A logger of its own, so the test's handler sees only the test's records."""
    lg = logging.getLogger(f"linkwatch-test-{uuid.uuid4().hex}")
    lg.propagate = False
    yield lg
    for handler in list(lg.handlers):
        lg.removeHandler(handler)


def _journal_env(stream) -> dict[str, str]:
    st = os.fstat(stream.fileno())
    return {"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"}


def test_terminal_lines_carry_time_level_and_logger(logger: logging.Logger) -> None:
    out = io.StringIO()
    configure_logging(stream=out, logger=logger, environ={})

    logger.getChild("ping").warning("target %s is down", "ngoc-vung")

    line = out.getvalue()
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d WARNING linkwatch-test-\w+\.ping: "
        r"target ngoc-vung is down\n",
        line,
    )


def test_without_journald_the_stream_lines_carry_priority_and_no_time(
    tmp_path: Path, logger: logging.Logger
) -> None:
    with open(tmp_path / "stream", "w+") as stream:
        configure_logging(stream=stream, logger=logger, environ=_journal_env(stream),
                          native_journal=str(tmp_path / "no-journald"))
        logger.setLevel(logging.DEBUG)

        logger.error("e")
        logger.warning("w")
        logger.info("i")
        logger.debug("d")
        stream.seek(0)
        lines = stream.read().splitlines()

    assert lines == [
        f"<{n}>{logger.name}: {m}" for n, m in [(3, "e"), (4, "w"), (6, "i"), (7, "d")]
    ]


@pytest.mark.parametrize(
    "journal_stream",
    ["", "garbage", "1:", ":2", "0:0"],  # unset, malformed, or another stream
)
def test_stderr_that_is_not_the_journal_stays_plain(tmp_path: Path, journal_stream: str) -> None:
    with open(tmp_path / "stream", "w") as stream:
        assert stderr_is_journal(stream, {"JOURNAL_STREAM": journal_stream}) is False


def test_the_journal_variable_inherited_by_a_redirected_stream_is_ignored(
    tmp_path: Path,
) -> None:
    # `linkwatch agent run 2>debug.log` typed in a shell inside the unit's environment.
    with open(tmp_path / "journal", "w") as journal, open(tmp_path / "file", "w") as file:
        environ = _journal_env(journal)
        assert stderr_is_journal(journal, environ) is True
        assert stderr_is_journal(file, environ) is False


def test_a_stream_without_file_descriptor_is_not_the_journal() -> None:
    assert stderr_is_journal(io.StringIO(), {"JOURNAL_STREAM": "1:2"}) is False


@pytest.mark.parametrize(
    ("level", "priority"),
    [
        (logging.CRITICAL, 2),
        (logging.ERROR, 3),
        (logging.WARNING, 4),
        (logging.INFO, 6),
        (logging.DEBUG, 7),
        (logging.INFO + 5, 6),
        (5, 7),
    ],
)
def test_syslog_priority(level: int, priority: int) -> None:
    assert syslog_priority(level) == priority


def test_a_newline_in_a_message_cannot_forge_a_second_line(logger: logging.Logger) -> None:
    out = io.StringIO()
    configure_logging(stream=out, logger=logger, environ={})

    # e.g. an SNMP sysDescr chosen by whoever controls the device
    logger.warning("device says %s", "Cisco\n2026-11-27 10:00:00 INFO linkwatch: all good")

    assert out.getvalue().count("\n") == 1
    assert "Cisco\\n2026-11-27" in out.getvalue()


def test_a_traceback_in_the_journal_keeps_its_priority(
    tmp_path: Path, logger: logging.Logger
) -> None:
    with open(tmp_path / "stream", "w+") as stream:
        configure_logging(stream=stream, logger=logger, environ=_journal_env(stream),
                          native_journal=str(tmp_path / "no-journald"))
        try:
            raise RuntimeError("spool is full")
        except RuntimeError:
            logger.exception("send failed")
        stream.seek(0)
        lines = stream.read().splitlines()

    assert lines[0] == f"<3>{logger.name}: send failed"
    assert lines[-1] == "<3>RuntimeError: spool is full"
    assert all(line.startswith("<3>") for line in lines)


def test_secrets_are_redacted_wherever_they_appear(logger: logging.Logger) -> None:
    out = io.StringIO()
    token = Secret("s3cr3t-token-value")
    configure_logging(stream=out, logger=logger, environ={}, secrets=[token, "c0mmunity", ""])

    logger.warning("POST http://127.0.0.1:8086/api/v2/write?token=%s", token.reveal())
    logger.warning("community c0mmunity refused")
    try:
        raise ConnectionError(f"bad auth: Token {token.reveal()}")
    except ConnectionError:
        logger.exception("send failed")

    text = out.getvalue()
    assert "s3cr3t" not in text
    assert "c0mmunity" not in text
    assert "token=***" in text
    assert "community *** refused" in text
    assert "ConnectionError: bad auth: Token ***" in text


def test_the_longer_of_two_overlapping_secrets_is_hidden_whole(logger: logging.Logger) -> None:
    out = io.StringIO()
    configure_logging(stream=out, logger=logger, environ={}, secrets=["abc", "abcdef"])

    logger.warning("password abcdef")

    assert out.getvalue().endswith("password ***\n")


def test_secrets_can_be_replaced_after_a_reload(logger: logging.Logger) -> None:
    out = io.StringIO()
    setup = configure_logging(stream=out, logger=logger, environ={}, secrets=["old-secret"])

    setup.redactor.replace(["new-secret"])
    logger.warning("old-secret new-secret")

    assert out.getvalue().endswith("old-secret ***\n")


def test_a_bad_format_string_does_not_break_the_caller(logger: logging.Logger) -> None:
    out = io.StringIO()
    setup = configure_logging(stream=out, logger=logger, environ={}, secrets=["x-secret"])
    # pytest >= 9.2 attaches its capture handler to non-propagating loggers too, and that
    # handler raises on a bad format string on purpose: keep only the agent's handler here.
    for handler in list(logger.handlers):
        if handler is not setup.handler:
            logger.removeHandler(handler)
    logger.warning("%d cycles", "not a number")  # logging reports it on stderr; no raise
    logger.warning("next line")

    assert out.getvalue().endswith("next line\n")


def test_close_removes_the_handler(logger: logging.Logger) -> None:
    out = io.StringIO()
    setup = configure_logging(stream=out, logger=logger, environ={})

    setup.close()
    logger.warning("after close")

    assert out.getvalue() == ""


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_state_log_reports_the_change_not_every_cycle(logger: logging.Logger) -> None:
    out = io.StringIO()
    configure_logging(stream=out, logger=logger, environ={})
    clock = _Clock()
    targets = StateLog(logger, monotonic=clock)

    assert targets.up("target ngoc-vung") is False  # up from the start: nothing to say
    assert targets.down("target ngoc-vung", "no reply to 5 echoes") is True
    for _ in range(10):
        clock.now += 60
        assert targets.down("target ngoc-vung", "no reply to 5 echoes") is False
    clock.now += 123
    assert targets.up("target ngoc-vung") is True
    assert targets.up("target ngoc-vung") is False

    lines = [line.split(": ", 1)[1] for line in out.getvalue().splitlines()]
    assert lines == [
        "target ngoc-vung is down: no reply to 5 echoes",
        "target ngoc-vung is back after 12m03s",
    ]
    assert " WARNING " in out.getvalue().splitlines()[0]
    assert " INFO " in out.getvalue().splitlines()[1]


def test_state_log_keeps_subjects_apart(logger: logging.Logger) -> None:
    clock = _Clock()
    targets = StateLog(logger, monotonic=clock)

    targets.down("target a", "timeout")
    assert targets.down("target b", "timeout") is True
    assert targets.is_down("target a")
    targets.forget("target a")  # removed from the config
    assert not targets.is_down("target a")
    assert targets.up("target a") is False
    assert targets.up("target b") is True


# --------------------------------------------------------------- journald's native socket


class Journald:
    """journald's end of the native protocol (a datagram socket; systemd.journal-fields(7)
    and the protocol of sd_journal_send), to read back what the agent sent."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(5)

    def entry(self) -> dict[str, str]:
        data = self.sock.recv(1 << 20)
        fields: dict[str, str] = {}
        while data:
            line, _, rest = data.partition(b"\n")
            if b"=" in line:
                key, _, value = line.partition(b"=")
                data = rest
            else:  # KEY\n, 64-bit little-endian length, the value, \n
                key = line
                (size,) = struct.unpack("<Q", rest[:8])
                value, data = rest[8:8 + size], rest[8 + size + 1:]
            fields[key.decode()] = value.decode()
        return fields


@pytest.fixture
def journald(tmp_path: Path) -> Iterator[Journald]:
    server = Journald(tmp_path / "journal.socket")
    yield server
    server.sock.close()


def test_under_journald_each_event_is_one_entry_with_its_fields(
    tmp_path: Path, logger: logging.Logger, journald: Journald
) -> None:
    with open(tmp_path / "stream", "w+") as stream:
        configure_logging(stream=stream, logger=logger, environ=_journal_env(stream),
                          native_journal=str(journald.path), secrets=["s3cret"])
        logger.warning("ping %s: no reply (community s3cret)", "ngoc-vung",
                       extra={"journal": {"kind": "ping", "check": "ngoc-vung",
                                          "state": "down"}})
        entry = journald.entry()
        stream.seek(0)
        assert stream.read() == ""  # nothing twice
    assert entry["MESSAGE"] == f"{logger.name}: ping ngoc-vung: no reply (community ***)"
    assert entry["PRIORITY"] == "4"
    assert entry["SYSLOG_IDENTIFIER"] == "linkwatch"
    assert entry["LOGGER"] == logger.name
    assert entry["CODE_FILE"] == __file__ and entry["CODE_FUNC"] == (
        "test_under_journald_each_event_is_one_entry_with_its_fields")
    assert int(entry["CODE_LINE"]) > 0
    assert (entry["LINKWATCH_KIND"], entry["LINKWATCH_CHECK"], entry["LINKWATCH_STATE"]) == (
        "ping", "ngoc-vung", "down")


def test_a_traceback_stays_in_its_entry(
    tmp_path: Path, logger: logging.Logger, journald: Journald
) -> None:
    with open(tmp_path / "stream", "w+") as stream:
        configure_logging(stream=stream, logger=logger, environ=_journal_env(stream),
                          native_journal=str(journald.path))
        try:
            raise RuntimeError("spool is full")
        except RuntimeError:
            logger.exception("send failed")
        entry = journald.entry()
    lines = entry["MESSAGE"].splitlines()
    assert lines[0] == f"{logger.name}: send failed"
    assert lines[-1] == "RuntimeError: spool is full"
    assert entry["PRIORITY"] == "3"


def test_a_newline_in_a_message_cannot_forge_a_field(
    tmp_path: Path, logger: logging.Logger, journald: Journald
) -> None:
    with open(tmp_path / "stream", "w+") as stream:
        configure_logging(stream=stream, logger=logger, environ=_journal_env(stream),
                          native_journal=str(journald.path))
        logger.warning("sysDescr: %s", "Cisco\nPRIORITY=0\nLINKWATCH_STATE=up")
        entry = journald.entry()
    assert entry["PRIORITY"] == "4" and "LINKWATCH_STATE" not in entry
    assert entry["MESSAGE"].endswith("Cisco\\nPRIORITY=0\\nLINKWATCH_STATE=up")


def test_when_journald_refuses_an_entry_the_line_goes_to_the_stream(
    tmp_path: Path, logger: logging.Logger, journald: Journald
) -> None:
    with open(tmp_path / "stream", "w+") as stream:
        configure_logging(stream=stream, logger=logger, environ=_journal_env(stream),
                          native_journal=str(journald.path))
        journald.sock.close()  # journald restarting: the socket refuses
        journald.path.unlink()
        logger.warning("output influxdb:linkwatch unreachable")
        stream.seek(0)
        assert stream.read() == f"<4>{logger.name}: output influxdb:linkwatch unreachable\n"
