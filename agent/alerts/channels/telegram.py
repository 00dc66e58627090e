"""Telegram Bot API: `POST {url}/bot{token}/sendMessage` with `{"chat_id", "text"}` (at most
4096 characters); the answer is `{"ok": true, ...}`. Optional: Telegram is blocked on
Vietnamese ISPs."""

from __future__ import annotations

from linkwatch.agent.alerts.channels import Handed
from linkwatch.agent.alerts.channels.http import bot_message
from linkwatch.agent.alerts.messages import Outgoing
from linkwatch.agent.config.alerting import TelegramChannel

MAX_TEXT = 4096


def send(channel: TelegramChannel, message: Outgoing, recipient: str, handed: Handed) -> None:
    bot_message(channel, message, recipient, handed, max_text=MAX_TEXT)
