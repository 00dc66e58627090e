"""SMTP: STARTTLS (587), TLS from the start (SMTPS, 465) or plain (25, a trusted LAN only).

The message's Message-ID is made of the dedupe key, so a mail server or client that sees
the same message twice can tell. The point of no return is the DATA command: a failure
before it (refused, TLS, login, a recipient refused) leaves the message queued.
"""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate

from linkwatch.agent.alerts.channels import Handed, Undelivered
from linkwatch.agent.alerts.messages import Outgoing
from linkwatch.agent.config.alerting import EmailChannel

PORTS = {"starttls": 587, "tls": 465, "none": 25}


def compose(channel: EmailChannel, message: Outgoing) -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = channel.sender
    mail["To"] = ", ".join(channel.to)
    mail["Subject"] = " ".join(message.subject.split())      # one line, whatever the names
    mail["Date"] = formatdate(localtime=False)
    mail["Message-ID"] = f"<{message.dedupe_key}@{message.agent}.linkwatch>"
    mail["X-Linkwatch-Dedupe-Key"] = message.dedupe_key
    mail.set_content(message.text)
    return mail


def send(channel: EmailChannel, message: Outgoing, recipient: str, handed: Handed) -> None:
    port = channel.port or PORTS[channel.security]
    where = f"smtp {channel.name} ({channel.server}:{port})"
    context = ssl.create_default_context(
        cafile=str(channel.ca_file) if channel.ca_file else None)
    timeout = float(channel.timeout)
    try:
        if channel.security == "tls":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(channel.server, port, timeout=timeout,
                                                  context=context)
        else:
            smtp = smtplib.SMTP(channel.server, port, timeout=timeout)
        with smtp:
            smtp.ehlo()
            if channel.security == "starttls":
                smtp.starttls(context=context)
                smtp.ehlo()
            if channel.username:
                password = channel.password.reveal() if channel.password else ""
                smtp.login(channel.username, password)
            code, answer = smtp.mail(channel.sender)
            if code != 250:
                raise smtplib.SMTPSenderRefused(code, answer, channel.sender)
            for address in channel.to:
                code, answer = smtp.rcpt(address)
                if code not in (250, 251):
                    raise smtplib.SMTPRecipientsRefused({address: (code, answer)})
            handed()
            smtp.data(compose(channel, message).as_bytes())
    except smtplib.SMTPRecipientsRefused as e:
        refused = ", ".join(f"{a}: {c} {m.decode(errors='replace')}"
                            for a, (c, m) in e.recipients.items())
        raise Undelivered(f"{where}: recipient refused: {refused}") from e
    except smtplib.SMTPResponseException as e:
        text = e.smtp_error.decode(errors="replace") if isinstance(e.smtp_error, bytes) \
            else str(e.smtp_error)
        raise Undelivered(f"{where}: {e.smtp_code} {text}") from e
    except ssl.SSLError as e:
        raise Undelivered(f"{where}: TLS failed: {e.reason or e} (ca_file?)") from e
    except (OSError, smtplib.SMTPException) as e:
        raise Undelivered(f"{where}: {getattr(e, 'strerror', None) or e}") from e
