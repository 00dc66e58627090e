"""Telegram Bot API: `POST {url}/bot{token}/sendMessage` with `{"chat_id", "text"}` (at most
4096 characters); the answer is `{"ok": true, ...}`. Optional: Telegram is blocked on
Vietnamese ISPs."""

from __future__ import annotations

from linkwatch.agent.alerts.channels import Handed
from linkwatch.agent.alerts.channels.http import bot_answer, post_json
from linkwatch.agent.alerts.messages import Outgoing
from linkwatch.agent.config.alerting import TelegramChannel

MAX_TEXT = 4096


def send(channel: TelegramChannel, message: Outgoing, recipient: str, handed: Handed) -> None:
    text = message.text if len(message.text) <= MAX_TEXT else message.text[:MAX_TEXT - 1] + "…"
    status, answer = post_json(
        channel.url, f"/bot{channel.token.reveal()}/sendMessage",
        {"chat_id": recipient, "text": text}, timeout=float(channel.timeout), handed=handed,
        ca_file=channel.ca_file)
    bot_answer(f"telegram {channel.name}", status, answer)
