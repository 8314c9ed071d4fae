"""Delivers the outbox: the plain handler of ``notify.deliver`` work.

One attempt per run, outside any transaction (the provider is on the network): read the row,
send, then record the attempt and the provider's answer on the incident's timeline in one
transaction. A retryable error is tried again with backoff; a permanent one (or the last
attempt) fails the row and hands the message to the person's next channel, saying why. A row
that is no longer pending is left alone, so a retried or taken-over run never sends twice what
was recorded as sent.

The window left is a run cut off (its hub killed, its lease lost) after the provider took the
message and before the record committed. A later run knows it follows such a run: the work was
claimed more often than attempts were recorded. Then, where the provider can be asked (Slack's
message metadata, Twilio's message and call lists: ``Traceable``), it looks first and records
what it finds instead of sending again; email cannot be asked, and goes again with the same
Message-ID, which mail systems treat as the same message.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from bounceback.api.clock import Clock
from bounceback.api.escalation import links as signed
from bounceback.api.escalation import store
from bounceback.api.escalation.directory import Directories
from bounceback.api.notify import outbox
from bounceback.api.notify.channel import (
    Links,
    Message,
    NotifyError,
    Purpose,
    Receipt,
    Recipient,
    Traceable,
)
from bounceback.api.notify.outbox import NotificationState
from bounceback.api.notify.registry import ChannelRegistry
from bounceback.api.schema import IncidentState
from bounceback.api.settings import HubSettings
from bounceback.api.store.db import Database
from bounceback.api.store.tables import incident_events, notifications
from bounceback.api.work.queue import WorkItem
from bounceback.api.work.scheduler import Outcome, Retry, backoff

log = logging.getLogger("bounceback.notify")
SEND_TIMEOUT_S = 30
# How far a provider's clock may be behind the hub's when it dates a message it took.
PROVIDER_CLOCK_SKEW = timedelta(minutes=1)


async def recorded_provider_ids(conn: Any, channel: str, since: datetime) -> set[str]:
    """The provider ids of ``channel`` deliveries recorded on any timeline since ``since``."""
    rows = await conn.execute(
        sa.select(incident_events.c.data).where(
            incident_events.c.kind == "notification", incident_events.c.at >= since
        )
    )
    return {
        str(data["provider_id"])
        for (data,) in rows
        if data and data.get("channel") == channel and data.get("provider_id")
    }


@dataclass(frozen=True)
class Attempt:
    receipt: Receipt | None
    error: NotifyError | None


class Dispatcher:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        settings: HubSettings,
        directories: Directories,
        channels: ChannelRegistry,
    ) -> None:
        self._db = db
        self._clock = clock
        self._settings = settings
        self._directories = directories
        self._channels = channels
        self._secret: bytes | None = None
        self.sent = 0

    async def link_secret(self) -> bytes:
        if self._secret is None:
            async with self._db.transaction() as conn:
                self._secret = await signed.load_secret(
                    conn,
                    self._settings.escalation.link_key_file,
                    self._clock.now(),
                    signed.environment(),
                )
        return self._secret

    async def links(self, incident_id: int, person_id: str, now: datetime) -> Links:
        base = self._settings.public_url
        secret = await self.link_secret()
        ttl = timedelta(minutes=self._settings.escalation.link_ttl_minutes)

        def link(action: signed.LinkAction) -> str:
            token = signed.sign(secret, incident_id, action, person_id, now=now, ttl=ttl)
            return f"{base}/api/escalation/links/{token}"

        return Links(
            incident=f"{base}/api/incidents/{incident_id}",
            acknowledge=link(signed.LinkAction.ACKNOWLEDGE),
            resolve=link(signed.LinkAction.RESOLVE),
        )

    async def deliver(self, item: WorkItem) -> Outcome:
        notification_id = int(item.payload["id"])
        async with self._db.read() as conn:
            row = (
                await conn.execute(
                    sa.select(notifications).where(notifications.c.id == notification_id)
                )
            ).first()
            if row is None or row.state != NotificationState.PENDING.value:
                return None
            incident = None
            if row.incident_id is not None:
                incident = await store.incident(conn, row.incident_id, lock=False)
            directory = await self._directories.load(conn)
        now = self._clock.now()
        # Claimed more often than attempts were recorded: a run before this one was cut off,
        # perhaps after the provider took the message.
        in_doubt = item.attempts > row.attempts + 1
        person = directory.people.get(row.person_id)
        if row.purpose == Purpose.PAGE.value and (
            incident is None or incident.state != IncidentState.TRIGGERED
        ):
            state = incident.state.value if incident else "gone"
            note = f"not sent: the incident is {state}"
            if in_doubt and incident is not None:
                # The run that was cut off may have paged before the incident moved on.
                found = await self._attempt(row, incident, person, now, in_doubt=True, send=False)
                if found is not None:
                    return await self._record(item, row, found)
                if not isinstance(self._channels.usable(row.channel), Traceable):
                    note += " (an earlier attempt was cut off and may have delivered it)"
            await self._record_skip(row, note, now)
            return None
        attempt = await self._attempt(row, incident, person, now, in_doubt=in_doubt)
        assert attempt is not None
        return await self._record(item, row, attempt)

    async def _attempt(
        self,
        row: Any,
        incident: store.IncidentView | None,
        person: Any,
        now: datetime,
        *,
        in_doubt: bool = False,
        send: bool = True,
    ) -> Attempt | None:
        """Send the row's message (unless ``send`` is off); when ``in_doubt``, first look for
        it at the provider. None: not sent, and not found."""
        channel = self._channels.usable(row.channel)
        if channel is None:
            error = NotifyError(self._channels.why_not(row.channel), permanent=True)
            return Attempt(None, error) if send else None
        address = channel.address(person) if person is not None else None
        if address is None:
            reason = f"{row.person_id} has no {row.channel} address (or no longer exists)"
            return Attempt(None, NotifyError(reason, permanent=True)) if send else None
        links = None
        if incident is not None:
            if row.purpose == Purpose.PAGE.value:
                links = await self.links(incident.id, row.person_id, now)
            else:
                links = Links(incident=f"{self._settings.public_url}/api/incidents/{incident.id}")
        message = Message(
            notification_id=row.id,
            purpose=Purpose(row.purpose),
            incident_id=row.incident_id,
            summary=incident.summary if incident else "Bounceback test notification",
            severity=incident.severity.value if incident else "info",
            state=incident.state.value if incident else "test",
            service=incident.service if incident else None,
            source=incident.source if incident else None,
            level=row.level,
            links=links,
            labels=incident.labels if incident else {},
        )
        recipient = Recipient(row.person_id, person.name, address)
        if in_doubt and isinstance(channel, Traceable):
            found = await self._find(channel, recipient, message, row)
            if found is not None:
                return Attempt(found, None)
        if not send:
            return None
        try:
            async with asyncio.timeout(SEND_TIMEOUT_S):
                return Attempt(await channel.send(recipient, message), None)
        except NotifyError as exc:
            return Attempt(None, exc)
        except Exception as exc:
            log.warning("notification %s: %s failed unexpectedly", row.id, row.channel)
            return Attempt(None, NotifyError(f"{type(exc).__name__}: {exc}"))

    async def _find(
        self, channel: Traceable, recipient: Recipient, message: Message, row: Any
    ) -> Receipt | None:
        """What the provider already holds of this message; None (send it) when it holds
        nothing or cannot be asked right now: a page sent twice beats a page never sent."""
        since = row.created_at - PROVIDER_CLOCK_SKEW
        try:
            async with self._db.read() as conn:
                recorded = await recorded_provider_ids(conn, row.channel, since)
            async with asyncio.timeout(SEND_TIMEOUT_S):
                found = await channel.find(recipient, message, since, recorded)
        except Exception as exc:
            log.warning("notification %s: %s could not be asked: %s", row.id, row.channel, exc)
            return None
        if found is None:
            return None
        answer = f"found at the provider after an interrupted attempt ({found.answer})"
        return Receipt(answer=answer, provider_id=found.provider_id)

    async def _record_skip(self, row: Any, message: str, now: datetime) -> None:
        async with self._db.transaction() as conn:
            done = await self._finish_row(conn, row, NotificationState.SKIPPED, message, now)
            if done and row.incident_id is not None:
                await self._timeline(conn, row, message, now, {})

    async def _record(self, item: WorkItem, row: Any, attempt: Attempt) -> Outcome:
        now = self._clock.now()
        number = row.attempts + 1
        who = f"{row.purpose} to {row.person_id} by {row.channel}"
        outcome: Outcome = None
        async with self._db.transaction() as conn:
            if attempt.receipt is not None:
                answer = attempt.receipt.answer
                done = await self._finish_row(conn, row, NotificationState.SENT, answer, now)
                message = f"{who}: sent (attempt {number}): {answer}"
                data: dict[str, Any] = {"provider_id": attempt.receipt.provider_id}
            else:
                error = attempt.error
                assert error is not None
                last = number >= outbox.MAX_ATTEMPTS or item.attempts >= item.max_attempts
                if not error.permanent and not last:
                    wait = (
                        timedelta(seconds=error.retry_after)
                        if error.retry_after is not None
                        else backoff(number, base=timedelta(seconds=5), cap=timedelta(minutes=2))
                    )
                    done = await self._count_attempt(conn, row, str(error))
                    message = f"{who}: attempt {number} failed ({error}); retrying in {wait}"
                    outcome = Retry(str(error), at=now + wait)
                    data = {"retry_at": (now + wait).isoformat()}
                else:
                    kind = "permanent error" if error.permanent else "out of attempts"
                    done = await self._finish_row(
                        conn, row, NotificationState.FAILED, str(error), now
                    )
                    message = f"{who}: failed ({kind}: {error})"
                    data = {"permanent": error.permanent}
                    if done:
                        message += await self._fall_back(conn, row, now)
            if not done:
                return None  # someone else recorded this row meanwhile
            if row.incident_id is not None:
                data.update(notification_id=row.id, channel=row.channel, attempt=number)
                await self._timeline(conn, row, message, now, data)
        if attempt.receipt is not None:
            self.sent += 1
        return outcome

    async def _fall_back(self, conn: Any, row: Any, now: datetime) -> str:
        fallbacks = list(row.fallbacks or [])
        if not fallbacks:
            return "; no other channel left for this person"
        await outbox.enqueue(
            conn,
            incident_id=row.incident_id,
            purpose=Purpose(row.purpose),
            person_id=row.person_id,
            channels=fallbacks,
            dedup_key=f"{row.dedup_key}>{fallbacks[0]}",
            now=now,
            level=row.level,
        )
        return f"; falling back to {fallbacks[0]}"

    @staticmethod
    async def _finish_row(
        conn: Any, row: Any, state: NotificationState, answer: str, now: datetime
    ) -> bool:
        values: dict[str, Any] = {"state": state.value, "answer": answer[:2000]}
        if state != NotificationState.SKIPPED:
            values["attempts"] = notifications.c.attempts + 1
        if state == NotificationState.SENT:
            values["sent_at"] = now
        result = await conn.execute(
            notifications.update()
            .where(
                notifications.c.id == row.id,
                notifications.c.state == NotificationState.PENDING.value,
            )
            .values(values)
        )
        return bool(result.rowcount)

    @staticmethod
    async def _count_attempt(conn: Any, row: Any, answer: str) -> bool:
        result = await conn.execute(
            notifications.update()
            .where(
                notifications.c.id == row.id,
                notifications.c.state == NotificationState.PENDING.value,
            )
            .values(attempts=notifications.c.attempts + 1, answer=answer[:2000])
        )
        return bool(result.rowcount)

    @staticmethod
    async def _timeline(
        conn: Any, row: Any, message: str, now: datetime, data: dict[str, Any]
    ) -> None:
        await store.timeline(
            conn,
            row.incident_id,
            kind="notification",
            actor="notify",
            message=message,
            now=now,
            data=data,
        )
