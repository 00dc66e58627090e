"""SMS through a local GSM modem: a file per part in smstools' outgoing directory, or one
gammu-smsd-inject run per part.

smstools file (docs/alerts.md, "SMS"): header lines `To: 84912345678` (international, no
`+`) and `Alphabet: UCS2`, an empty line, then the text in UCS-2, big-endian, at most 70
characters. Text that is plain ASCII goes as `Alphabet: ISO` in parts of 160. Each part is
written under a name starting with a dot (smsd reads no such file) and renamed into place,
so smsd never reads half a file.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from linkwatch.agent.alerts.channels import Handed, Undelivered
from linkwatch.agent.alerts.messages import SMS_PART, Outgoing, sms_parts
from linkwatch.agent.config.alerting import SmsChannel

ASCII_PART = 160             # 7-bit characters in one part (UCS-2: messages.SMS_PART)


def parts(channel: SmsChannel, message: Outgoing) -> tuple[list[str], bool]:
    """The parts of the message, and whether they need UCS-2."""
    ucs2 = not message.short.isascii()
    size = SMS_PART if ucs2 else ASCII_PART
    return sms_parts(message.short, channel.max_parts, size), ucs2


def smstools_file(number: str, text: str, ucs2: bool) -> bytes:
    header = f"To: {_international(number)}\nAlphabet: {'UCS2' if ucs2 else 'ISO'}\n\n"
    body = text.encode("utf-16-be") if ucs2 else text.encode("ascii")
    return header.encode("ascii") + body


def send(channel: SmsChannel, message: Outgoing, recipient: str, handed: Handed) -> None:
    texts, ucs2 = parts(channel, message)
    if channel.via == "gammu":
        return _inject(channel, texts, recipient, handed)
    outgoing = Path(channel.outgoing)
    stem = f"linkwatch-{message.dedupe_key[:16]}-{_international(recipient)}"
    written = []
    try:
        for i, text in enumerate(texts, 1):
            temporary = outgoing / f".{stem}-{i}.tmp"
            with open(temporary, "wb") as f:
                f.write(smstools_file(recipient, text, ucs2))
                f.flush()
                os.fsync(f.fileno())
            written.append((temporary, outgoing / f"{stem}-{i}"))
    except OSError as e:
        for temporary, _ in written:
            temporary.unlink(missing_ok=True)
        raise Undelivered(f"sms {channel.name}: cannot write in {outgoing}: "
                          f"{e.strerror or e} (smstools' outgoing directory, writable by "
                          "the agent's user?)") from e
    handed()
    for temporary, final in written:
        os.rename(temporary, final)


def _inject(channel: SmsChannel, texts: list[str], recipient: str, handed: Handed) -> None:
    base = [channel.inject]
    if channel.gammu_config is not None:
        base += ["-c", str(channel.gammu_config)]
    handed()
    for text in texts:
        try:
            done = subprocess.run([*base, "TEXT", recipient, "-unicode", "-text", text],
                                  capture_output=True, text=True,
                                  timeout=float(channel.timeout), check=False)
        except (OSError, subprocess.TimeoutExpired) as e:
            raise Undelivered(f"sms {channel.name}: {channel.inject}: {e}") from e
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
            raise Undelivered(f"sms {channel.name}: {channel.inject} exited with "
                              f"{done.returncode}: {tail[0]}")


def _international(number: str) -> str:
    return number.replace(" ", "").lstrip("+")

