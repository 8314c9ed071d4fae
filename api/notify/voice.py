"""The phone channel: a Twilio call that reads the incident and gathers one key — 1 to
acknowledge, 2 to resolve, 3 to escalate now (``routes/twilio.py`` takes the key).

Calls are for critical incidents only: policies decide (``phone_min_severity``), and this
channel refuses any other page with a permanent error, so a mistake falls back to a quieter
channel instead of waking someone. With no key pressed the prompt is said once more; then the
call ends and counts as unanswered: the dispatcher had recorded the call as placed, so the
unanswered call itself hands the page to the person's next channel (``unanswered``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlencode

import httpx
import sqlalchemy as sa
from twilio.twiml.voice_response import Gather, VoiceResponse

from bounceback.api.escalation import store
from bounceback.api.notify import outbox
from bounceback.api.notify.channel import Message, NotifyError, Purpose, Receipt, Recipient
from bounceback.api.notify.twilio_client import make_client, twilio_error
from bounceback.api.oncall.models import Person
from bounceback.api.schema import IncidentState
from bounceback.api.store.tables import notifications

GATHER_PATH = "/api/integrations/twilio/voice/gather"
GATHER_TIMEOUT_S = 8
PROMPT = "Press 1 to acknowledge, 2 to resolve, 3 to escalate now."


def gather_url(public_url: str, message: Message, person_id: str, **extra: str) -> str:
    query = {
        "incident": str(message.incident_id),
        "person": person_id,
        "notification": str(message.notification_id),
        **extra,
    }
    return f"{public_url}{GATHER_PATH}?{urlencode(query)}"


def speech(message: Message) -> str:
    summary = message.summary[:300]
    where = f" on {message.service}" if message.service else ""
    return f"Bounceback. {message.severity} incident {message.incident_id}{where}: {summary}."


def gather_twiml(action: str, intro: str) -> str:
    """Say ``intro`` and the prompt; say the prompt once more; then report no input."""
    response = VoiceResponse()
    first = Gather(num_digits=1, action=action, method="POST", timeout=GATHER_TIMEOUT_S)
    first.say(f"{intro} {PROMPT}")
    response.append(first)
    again = Gather(num_digits=1, action=action, method="POST", timeout=GATHER_TIMEOUT_S)
    again.say(f"Once more. {PROMPT}")
    response.append(again)
    response.redirect(f"{action}&noinput=1", method="POST")
    return str(response)


def say_and_hang_up(text: str) -> str:
    response = VoiceResponse()
    response.say(text)
    response.hangup()
    return str(response)


class VoiceChannel:
    name = "phone"

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        from_number: str,
        *,
        public_url: str,
        api_url: str = "https://api.twilio.com",
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._client = make_client(account_sid, auth_token, api_url, transport)
        self._from = from_number
        self._public_url = public_url

    def address(self, person: Person) -> str | None:
        return person.phone

    async def send(self, recipient: Recipient, message: Message) -> Receipt:
        if message.purpose == Purpose.TEST:
            twiml = say_and_hang_up("This is a Bounceback test call. Nothing needs doing.")
        elif message.purpose != Purpose.PAGE or message.severity != "critical":
            raise NotifyError(
                f"phone calls are for critical pages only (this is a {message.severity} "
                f"{message.purpose.value})",
                permanent=True,
            )
        else:
            action = gather_url(self._public_url, message, recipient.person_id)
            twiml = gather_twiml(action, speech(message))
        try:
            call = await self._client.calls.create_async(
                to=recipient.address, from_=self._from, twiml=twiml
            )
        except Exception as exc:
            raise twilio_error(exc) from exc
        return Receipt(answer=f"Twilio call {call.status}", provider_id=call.sid)

    async def find(
        self, recipient: Recipient, message: Message, since: datetime, recorded: set[str]
    ) -> Receipt | None:
        """A call to the recipient created since ``since`` and recorded for no other
        notification: calls carry nothing of their message, so that is all there is to go by."""
        if message.purpose != Purpose.PAGE:
            return None
        try:
            calls = await self._client.calls.list_async(
                to=recipient.address, from_=self._from, limit=LOOK_BACK
            )
        except Exception as exc:
            raise twilio_error(exc) from exc
        for call in calls:
            created = call.date_created
            if call.sid not in recorded and created is not None and created >= since:
                return Receipt(answer=f"Twilio call {call.status}", provider_id=call.sid)
        return None


LOOK_BACK = 20  # the recipient's latest calls looked through for one cut off


async def unanswered(conn: Any, notification_id: int, reason: str, now: datetime) -> str:
    """The call of ``notification_id`` reached nobody: page the person's next channel (when
    the incident still needs someone), and say so on the timeline. Idempotent."""
    row = (
        await conn.execute(sa.select(notifications).where(notifications.c.id == notification_id))
    ).first()
    if row is None or row.incident_id is None or row.channel != "phone":
        return "unknown call"
    incident = await store.incident(conn, row.incident_id, lock=False)
    fallbacks = list(row.fallbacks or [])
    message = f"{row.purpose} to {row.person_id} by phone: unanswered ({reason})"
    if incident is None or incident.state != IncidentState.TRIGGERED:
        message += "; nothing more to do, the incident is no longer triggered"
    elif not fallbacks:
        message += "; no other channel left for this person"
    else:
        added = await outbox.enqueue(
            conn,
            incident_id=row.incident_id,
            purpose=Purpose(row.purpose),
            person_id=row.person_id,
            channels=fallbacks,
            dedup_key=f"{row.dedup_key}>unanswered",
            now=now,
            level=row.level,
        )
        if added is None:
            return "already handled"
        message += f"; falling back to {fallbacks[0]}"
    await store.timeline(
        conn,
        row.incident_id,
        kind="notification",
        actor="notify",
        message=message,
        now=now,
        data={"notification_id": row.id, "channel": "phone", "unanswered": reason},
    )
    return message
