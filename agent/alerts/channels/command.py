"""A local program that gets the documented JSON body on stdin (docs/alerts.md); exit
status 0 is delivered, anything else is retried. Run without a shell, with the agent's
environment; it should act once per `dedupe_key` (a crash may run it twice)."""

from __future__ import annotations

import json
import subprocess

from linkwatch.agent.alerts.channels import Handed, Undelivered
from linkwatch.agent.alerts.messages import Outgoing
from linkwatch.agent.config.alerting import CommandChannel


def send(channel: CommandChannel, message: Outgoing, recipient: str, handed: Handed) -> None:
    body = json.dumps(message.body(), ensure_ascii=False).encode("utf-8")
    handed()
    try:
        done = subprocess.run(list(channel.command), input=body, capture_output=True,
                              timeout=float(channel.timeout), check=False)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise Undelivered(f"command {channel.name}: {channel.command[0]}: {e}") from e
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).decode("utf-8", "replace").strip().splitlines()
        raise Undelivered(f"command {channel.name}: exited with {done.returncode}: "
                          f"{tail[-1] if tail else 'no output'}")
