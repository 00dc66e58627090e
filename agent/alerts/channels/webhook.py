"""A POST of the documented JSON body (docs/alerts.md, "Webhook body"); any 2xx is
delivered."""

from __future__ import annotations

from linkwatch.agent.alerts.channels import Handed
from linkwatch.agent.alerts.channels.http import ok_2xx, post_json
from linkwatch.agent.alerts.messages import Outgoing
from linkwatch.agent.config.alerting import WebhookChannel


def send(channel: WebhookChannel, message: Outgoing, recipient: str, handed: Handed) -> None:
    headers = {"Authorization": f"Bearer {channel.token.reveal()}"} if channel.token else {}
    headers["Idempotency-Key"] = message.dedupe_key
    status, answer = post_json(channel.url, "", message.body(), timeout=float(channel.timeout),
                               handed=handed, ca_file=channel.ca_file, headers=headers)
    ok_2xx(f"webhook {channel.name}", status, answer)
