"""Zalo Bot Platform: `POST {url}/bot{token}/sendMessage` with `{"chat_id", "text"}`
(1 to 2000 characters); the answer is `{"ok": true, "result": {...}}`."""

from __future__ import annotations

from linkwatch.agent.alerts.channels import Handed
from linkwatch.agent.alerts.channels.http import bot_message
from linkwatch.agent.alerts.messages import Outgoing
from linkwatch.agent.config.alerting import ZaloChannel

MAX_TEXT = 2000


def send(channel: ZaloChannel, message: Outgoing, recipient: str, handed: Handed) -> None:
    bot_message(channel, message, recipient, handed, max_text=MAX_TEXT)
