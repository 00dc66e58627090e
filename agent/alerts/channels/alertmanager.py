"""Prometheus Alertmanager: `POST {url}/api/v2/alerts` with a list of alerts.

Each alert's labels are its identity (docs/alerts.md, "Alertmanager labels"): `alertname`
(the rule), `severity`, `site`, `agent` (who evaluated it) and the subject's name tag
(`target`, `device`, `watched_agent`, plus `interface`, `direction`). A firing alert is
re-sent every `repeat` (the Alertmanager resolves an alert it has not heard of for its
resolve_timeout); a resolved one carries `endsAt`. A digest sends each alert's latest state
in one request.
"""

from __future__ import annotations

from typing import Any

from linkwatch.agent.alerts.channels import Handed
from linkwatch.agent.alerts.channels.http import ok_2xx, post_json, request
from linkwatch.agent.alerts.event import Event, iso_utc
from linkwatch.agent.alerts.messages import Outgoing
from linkwatch.agent.config.alerting import AlertmanagerChannel


def alerts(message: Outgoing) -> list[dict[str, Any]]:
    latest: dict[str, Event] = {}
    for e in sorted(message.events, key=lambda e: e.at_ns):
        latest[e.key] = e
    return [_alert(e, message) for e in latest.values()]


def _alert(e: Event, message: Outgoing) -> dict[str, Any]:
    labels = {"alertname": e.rule, "severity": e.severity, "site": e.subject.site,
              "agent": e.agent, **e.subject.tags()}
    annotations = {"summary": message.subject if message.kind != "digest" else e.rule,
                   "description": message.text if len(message.events) == 1 else "",
                   "state": e.state, "since": iso_utc(e.since_ns)}
    if e.cut_off:
        annotations["cut_off"] = ", ".join(f"{name} ({site})" for site, name in e.cut_off)
    alert: dict[str, Any] = {"labels": labels, "annotations": annotations,
                             "startsAt": iso_utc(e.since_ns)}
    if e.state == "resolved":
        alert["endsAt"] = iso_utc(e.at_ns)
    return alert


def send(channel: AlertmanagerChannel, message: Outgoing, recipient: str,
         handed: Handed) -> None:
    if message.kind == "test":
        return _test(channel, handed)
    headers = {"Authorization": f"Bearer {channel.token.reveal()}"} if channel.token else {}
    status, answer = post_json(channel.url, "/api/v2/alerts", alerts(message),
                               timeout=float(channel.timeout), handed=handed,
                               ca_file=channel.ca_file, headers=headers)
    ok_2xx(f"alertmanager {channel.name}", status, answer)


def _test(channel: AlertmanagerChannel, handed: Handed) -> None:
    """A test asks for the status, so no test alert pages anyone through its receivers."""
    headers = {"Authorization": f"Bearer {channel.token.reveal()}"} if channel.token else {}
    status, answer = request("GET", channel.url, "/api/v2/status", None,
                             timeout=float(channel.timeout), handed=handed,
                             ca_file=channel.ca_file, headers=headers)
    ok_2xx(f"alertmanager {channel.name}", status, answer)
