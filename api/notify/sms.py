"""The SMS channel: a short text through Twilio's Messages API, answered by replying
"ACK 42" or "RES 42" (``routes/twilio.py``).

The text stays within one or two segments: the incident number first, so that a reply needs
nothing else, then the severity and the summary cut to fit. Twilio's reserved words (STOP,
HELP, …) are never suggested as replies.
"""

from __future__ import annotations

from datetime import datetime

import httpx

from bounceback.api.notify.channel import Message, NotifyError, Purpose, Receipt, Recipient
from bounceback.api.notify.twilio_client import make_client, twilio_error
from bounceback.api.oncall.models import Person

MAX_CHARS = 300
LOOK_BACK = 50  # the recipient's latest texts looked through for one cut off


def text(message: Message) -> str:
    number = f"BB#{message.incident_id}" if message.incident_id is not None else "BB"
    if message.purpose == Purpose.PAGE:
        head = f"{number} {message.severity.upper()}"
        tail = f" Reply ACK {message.incident_id} or RES {message.incident_id}"
    elif message.purpose == Purpose.TEST:
        return "Bounceback test message: this number can be paged. Nothing needs doing."
    else:
        head, tail = f"{number} {message.purpose.value.upper()}", ""
    room = MAX_CHARS - len(head) - len(tail) - 3
    summary = message.summary if len(message.summary) <= room else message.summary[: room - 1] + "…"
    if message.service:
        summary = f"{message.service}: {summary}"[:room]
    return f"{head}: {summary}.{tail}"


class SmsChannel:
    name = "sms"

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        from_number: str,
        *,
        api_url: str = "https://api.twilio.com",
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._client = make_client(account_sid, auth_token, api_url, transport)
        self._from = from_number

    def address(self, person: Person) -> str | None:
        return person.phone

    async def send(self, recipient: Recipient, message: Message) -> Receipt:
        try:
            sent = await self._client.messages.create_async(
                to=recipient.address, from_=self._from, body=text(message)
            )
        except Exception as exc:
            raise twilio_error(exc) from exc
        if sent.status == "failed":
            raise NotifyError(f"Twilio: message {sent.sid} failed ({sent.error_code})")
        return Receipt(answer=f"Twilio {sent.status}", provider_id=sent.sid)

    async def find(
        self, recipient: Recipient, message: Message, since: datetime, recorded: set[str]
    ) -> Receipt | None:
        """A text to the recipient with this message's words, created since ``since`` and
        recorded for no other notification (Twilio lists the newest first)."""
        words = text(message)
        try:
            sent = await self._client.messages.list_async(
                to=recipient.address, from_=self._from, limit=LOOK_BACK
            )
        except Exception as exc:
            raise twilio_error(exc) from exc
        for found in sent:
            created = found.date_created
            if found.sid in recorded or created is None or created < since:
                continue
            if words in (found.body or ""):
                return Receipt(answer=f"Twilio {found.status}", provider_id=found.sid)
        return None
