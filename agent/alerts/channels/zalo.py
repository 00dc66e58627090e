"""Zalo Bot Platform: `POST {url}/bot{token}/sendMessage` with `{"chat_id", "text"}`
(1 to 2000 characters); the answer is `{"ok": true, "result": {...}}`."""

from __future__ import annotations

from linkwatch.agent.alerts.channels import Handed
from linkwatch.agent.alerts.channels.http import bot_answer, post_json
from linkwatch.agent.alerts.messages import Outgoing
from linkwatch.agent.config.alerting import ZaloChannel

MAX_TEXT = 2000


def send(channel: ZaloChannel, message: Outgoing, recipient: str, handed: Handed) -> None:
    text = message.text if len(message.text) <= MAX_TEXT else message.text[:MAX_TEXT - 1] + "…"
    status, answer = post_json(
        channel.url, f"/bot{channel.token.reveal()}/sendMessage",
        {"chat_id": recipient, "text": text}, timeout=float(channel.timeout), handed=handed,
        ca_file=channel.ca_file)
    bot_answer(f"zalo {channel.name}", status, answer)
