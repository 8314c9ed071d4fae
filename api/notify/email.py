"""The email channel: SMTP with STARTTLS, TLS or (loopback only) neither; text and HTML parts.

It uses the standard library's ``smtplib`` in a worker thread rather than ``aiosmtplib``: one
message per page is a few round trips, a thread handles that well, and the hub gains no runtime
dependency for it. Each message's ``Message-ID`` is derived from the outbox row, so a message
sent again after a crash (the one window where that can happen) is recognisably the same one.
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate

from bounceback.api.escalation.config import SmtpConfig, SmtpSecurity
from bounceback.api.notify import render
from bounceback.api.notify.channel import Message, NotifyError, Receipt, Recipient
from bounceback.api.oncall.models import Person


class EmailChannel:
    name = "email"

    def __init__(
        self,
        smtp: SmtpConfig,
        password: str | None = None,
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        self._smtp = smtp
        self._password = password
        self._tls = tls_context or ssl.create_default_context()

    def address(self, person: Person) -> str | None:
        return person.email

    def compose(self, recipient: Recipient, message: Message) -> EmailMessage:
        mail = EmailMessage()
        mail["Subject"] = message.title
        mail["From"] = self._smtp.from_address
        mail["To"] = recipient.address
        mail["Date"] = formatdate(localtime=False)
        domain = self._smtp.from_address.rpartition("@")[2]
        mail["Message-ID"] = f"<notification-{message.notification_id}@{domain}>"
        if message.incident_id is not None:
            mail["X-Bounceback-Incident"] = str(message.incident_id)
        mail.set_content(render.text(message))
        mail.add_alternative(render.html(message), subtype="html")
        return mail

    async def send(self, recipient: Recipient, message: Message) -> Receipt:
        mail = self.compose(recipient, message)
        return await asyncio.to_thread(self._send, mail)

    def _connect(self) -> smtplib.SMTP:
        smtp, timeout = self._smtp, self._smtp.timeout_seconds
        if smtp.security == SmtpSecurity.TLS:
            return smtplib.SMTP_SSL(smtp.host, smtp.port, timeout=timeout, context=self._tls)
        client = smtplib.SMTP(smtp.host, smtp.port, timeout=timeout)
        if smtp.security == SmtpSecurity.STARTTLS:
            client.starttls(context=self._tls)
        return client

    def _send(self, mail: EmailMessage) -> Receipt:
        try:
            with self._connect() as client:
                if self._smtp.username:
                    client.login(self._smtp.username, self._password or "")
                refused = client.send_message(mail)
        except smtplib.SMTPAuthenticationError as exc:
            raise NotifyError(f"SMTP login refused: {exc.smtp_code}", permanent=True) from exc
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            raise NotifyError(
                f"recipient refused: {exc.recipients}", permanent=all(c >= 500 for c in codes)
            ) from exc
        except smtplib.SMTPResponseException as exc:
            raise NotifyError(
                f"SMTP {exc.smtp_code}: {exc.smtp_error!r}", permanent=exc.smtp_code >= 500
            ) from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise NotifyError(f"SMTP server unreachable: {type(exc).__name__}: {exc}") from exc
        if refused:
            raise NotifyError(f"recipient refused: {refused}", permanent=True)
        return Receipt(answer="250 accepted", provider_id=str(mail["Message-ID"]))
