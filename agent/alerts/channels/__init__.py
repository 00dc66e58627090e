"""One module per channel kind, each with `send(channel, message, recipient, handed)`.

`send` blocks (the dispatcher runs it in a thread), delivers `message` to one recipient
of the channel (a chat id or phone number; "" where one request reaches every recipient),
and raises `Undelivered` when it did not. It calls `handed()` just before the point of no
return (the SMTP DATA, the HTTP request, the file rename, the program start): from then on
a crash leaves the message *unconfirmed*, never sent twice to a person.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from linkwatch.agent.alerts.messages import Outgoing
from linkwatch.agent.config.alerting import Channel

Handed = Callable[[], None]


class Undelivered(Exception):
    """A send that did not deliver; the message says why, for logs and `spool status`
    (never a secret: no token, no password, no URL path)."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def recipients(channel: Channel) -> tuple[str, ...]:
    """The outbox rows one message makes on `channel`: one per chat or phone number where
    each needs its own request, else one ("") for the whole channel."""
    if channel.kind in ("zalo", "telegram"):
        return tuple(getattr(channel, "chat_ids", ()))
    if channel.kind == "sms":
        return tuple(getattr(channel, "to", ()))
    return ("",)


def send(channel: Channel, message: Outgoing, recipient: str, handed: Handed) -> None:
    """Deliver `message` over `channel` to `recipient`; raises Undelivered."""
    module = importlib.import_module(f"linkwatch.agent.alerts.channels.{channel.kind}")
    module.send(channel, message, recipient, handed)
