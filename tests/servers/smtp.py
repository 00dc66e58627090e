"""A real SMTP server on a private loopback port: aiosmtpd, run in its own thread, keeping
every message it accepted. It can be stopped and started again on the same port (a mail
server that is down), and speak STARTTLS or SMTPS with a test CA (tests/servers/certificates).

Inside a network namespace a test has made, it runs as its own process (`SmtpProcess`:
`ip netns exec NS python -m tests.servers.smtp --port P --maildir DIR`) and writes each
message it accepts to DIR as an .eml file, which the test reads.
"""

from __future__ import annotations

import argparse
import email
import email.policy
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from tests.servers.certificates import Certificates
from tests.servers.process import free_port, stop_process, tail

REPO = Path(__file__).resolve().parents[2]


@dataclass
class Received:
    """One message as the server accepted it."""

    sender: str
    recipients: list[str]
    message: EmailMessage

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    @property
    def text(self) -> str:
        body = self.message.get_body(("plain",))
        return body.get_content() if body is not None else ""


def parse(raw: bytes, sender: str = "", recipients: list[str] | None = None) -> Received:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return Received(sender, recipients or [], message)


class _Inbox:
    def messages(self) -> list[Received]:
        raise NotImplementedError

    def wait_for(self, done: Callable[[list[Received]], bool], timeout: float,
                 what: str) -> list[Received]:
        """Poll the inbox until `done(messages)` holds; fail naming `what` after `timeout`."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.messages()
            if done(found):
                return found
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout:g}s waiting for {what}; the "
                                     f"inbox holds {[m.subject for m in found]}")
            time.sleep(0.1)


class _Handler:
    def __init__(self, server: SmtpServer) -> None:
        self.server = server

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw = envelope.original_content or envelope.content
        received = parse(raw, envelope.mail_from, list(envelope.rcpt_tos))
        with self.server.lock:
            self.server.inbox.append(received)
            if self.server.maildir is not None:
                n = len(self.server.inbox)
                temporary = self.server.maildir / f".{n:05d}.tmp"
                temporary.write_bytes(raw)
                temporary.rename(self.server.maildir / f"{n:05d}.eml")
        return "250 OK"


@dataclass
class SmtpServer(_Inbox):
    port: int = field(default_factory=free_port)
    security: str = "none"                 # none, starttls, tls
    certificates: Certificates | None = None
    login: tuple[str, str] | None = None   # required user and password
    maildir: Path | None = None            # also write each message here
    inbox: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    _controller: Any = None

    def start(self) -> SmtpServer:
        from aiosmtpd.controller import Controller
        from aiosmtpd.smtp import AuthResult

        kwargs: dict[str, Any] = {}
        if self.security == "starttls":
            assert self.certificates is not None
            kwargs |= {"tls_context": self.certificates.server_context(),
                       "require_starttls": True}
        if self.security == "tls":
            assert self.certificates is not None
            kwargs["ssl_context"] = self.certificates.server_context()
        if self.login is not None:
            user, password = self.login

            def authenticate(server, session, envelope, mechanism, data) -> AuthResult:
                ok = (data.login.decode(), data.password.decode()) == (user, password)
                return AuthResult(success=ok, handled=False)

            kwargs |= {"authenticator": authenticate, "auth_required": True}
        self._controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port,
                                      **kwargs)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def messages(self) -> list[Received]:
        with self.lock:
            return list(self.inbox)


@dataclass
class SmtpProcess(_Inbox):
    """The server as a process in network namespace `netns`, its messages in `maildir`."""

    netns: str
    maildir: Path
    port: int = 2525
    process: subprocess.Popen | None = None

    def start(self) -> SmtpProcess:
        self.maildir.mkdir(parents=True, exist_ok=True)
        ready = self.maildir / ".ready"
        ready.unlink(missing_ok=True)
        log = self.maildir.parent / "smtp.log"
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                ["ip", "netns", "exec", self.netns, sys.executable, "-m", "tests.servers.smtp",
                 "--port", str(self.port), "--maildir", str(self.maildir)],
                cwd=REPO, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env={**os.environ, "PYTHONPATH": str(REPO)})
        deadline = time.monotonic() + 30
        while not ready.exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the SMTP server did not start; {tail(log)}")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process, timeout=10)
            self.process = None

    def messages(self) -> list[Received]:
        return [parse(p.read_bytes()) for p in sorted(self.maildir.glob("*.eml"))]


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    """A plain SMTP server for one test, started; stopped at the end whatever happened."""
    server = SmtpServer().start()
    try:
        yield server
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description="aiosmtpd writing each message to a dir")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--maildir", type=Path, required=True)
    args = parser.parse_args()
    server = SmtpServer(port=args.port, maildir=args.maildir)
    existing = sorted(args.maildir.glob("*.eml"))
    server.inbox.extend(parse(p.read_bytes()) for p in existing)   # numbering goes on
    server.start()
    (args.maildir / ".ready").write_text("ready\n")
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    stopped.wait()
    server.stop()


if __name__ == "__main__":
    main()
