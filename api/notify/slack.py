"""The Slack channel: a Block Kit message per person paged (a direct message from the bot),
updated in place as the incident changes, with what happened as replies in its thread.

Where each message lives (its channel and ``ts``) is not stored apart: the dispatcher writes
the provider's id of every delivery on the incident's timeline, and this channel's id is
``<channel>/<ts>``, so ``SlackThreads`` finds an incident's messages there. Updates that follow
an action (a button, an SMS reply, a keypress) run as scheduled work (``REFRESH``) so that the
caller answers Slack within its 3 seconds and a failed update is retried on any replica.

Errors: an unknown user, channel or token can never work (permanent, so the dispatcher falls
back to the person's next channel); ``ratelimited`` carries Slack's ``Retry-After``; server
errors and broken connections are worth retrying.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aiohttp
import sqlalchemy as sa
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.ext.asyncio import AsyncConnection

from bounceback.api.escalation import store
from bounceback.api.notify import slack_blocks
from bounceback.api.notify.channel import Links, Message, NotifyError, Purpose, Receipt, Recipient
from bounceback.api.oncall.models import Person
from bounceback.api.store.db import Database
from bounceback.api.store.tables import incident_events, notifications
from bounceback.api.work import queue
from bounceback.api.work.queue import WorkItem
from bounceback.api.work.scheduler import Outcome, Retry

log = logging.getLogger("bounceback.notify.slack")
REFRESH = "slack.refresh"
PERMANENT = frozenset(
    {
        "invalid_auth",
        "not_authed",
        "account_inactive",
        "token_revoked",
        "token_expired",
        "no_permission",
        "missing_scope",
        "channel_not_found",
        "user_not_found",
        "users_not_found",
        "not_in_channel",
        "is_archived",
        "cannot_dm_bot",
        "user_disabled",
        "invalid_blocks",
        "invalid_arguments",
        "msg_too_long",
        "no_text",
        "message_not_found",
        "cant_update_message",
        "edit_window_closed",
    }
)
_PURPOSE_OF_STATE = {
    "triggered": Purpose.PAGE,
    "acknowledged": Purpose.ACKNOWLEDGED,
    "resolved": Purpose.RESOLVED,
}


METADATA_EVENT = "bounceback_notification"


def metadata(message: Message) -> dict[str, Any] | None:
    """Slack message metadata naming the notification, so that it can be found again."""
    if message.notification_id <= 0:
        return None
    return {
        "event_type": METADATA_EVENT,
        "event_payload": {"notification_id": message.notification_id},
    }


def _carries(messages: list[dict[str, Any]], message: Message) -> bool:
    for posted in messages:
        found = posted.get("metadata") or {}
        payload = found.get("event_payload") or {}
        if (
            found.get("event_type") == METADATA_EVENT
            and payload.get("notification_id") == message.notification_id
        ):
            return True
    return False


@dataclass(frozen=True)
class SlackRef:
    person_id: str
    channel: str
    ts: str

    @property
    def id(self) -> str:
        return f"{self.channel}/{self.ts}"


def slack_error(exc: Exception) -> NotifyError:
    """What a failed Web API call means for the dispatcher."""
    if isinstance(exc, SlackApiError):
        response = exc.response
        status = response.status_code
        data = response.data if isinstance(response.data, dict) else {}
        error = str(data.get("error") or f"HTTP {status}")
        if status == 429 or error == "ratelimited":
            headers = {k.lower(): v for k, v in (response.headers or {}).items()}
            try:
                wait = float(headers.get("retry-after", 30))
            except ValueError:
                wait = 30.0
            return NotifyError(f"Slack: ratelimited (retry after {wait:g} s)", retry_after=wait)
        if error in PERMANENT:
            return NotifyError(f"Slack: {error}", permanent=True)
        if status >= 500 or error in ("internal_error", "fatal_error", "service_unavailable"):
            return NotifyError(f"Slack: {error}")
        return NotifyError(f"Slack: {error}", permanent=status < 500 and status != 200)
    if isinstance(exc, aiohttp.ClientError | TimeoutError | OSError):
        return NotifyError(f"Slack unreachable: {type(exc).__name__}: {exc}")
    return NotifyError(f"Slack: {type(exc).__name__}: {exc}")


class SlackThreads:
    """The Slack messages an incident has, read from its timeline."""

    def __init__(self, db: Database) -> None:
        self._db = db

    @staticmethod
    async def of(conn: AsyncConnection, incident_id: int) -> list[SlackRef]:
        rows = await conn.execute(
            sa.select(incident_events.c.data)
            .where(
                incident_events.c.incident_id == incident_id,
                incident_events.c.kind == "notification",
            )
            .order_by(incident_events.c.id)
        )
        by_notification: dict[int, str] = {}
        for (data,) in rows:
            provider = (data or {}).get("provider_id")
            if (data or {}).get("channel") == "slack" and provider and "/" in str(provider):
                by_notification[int(data["notification_id"])] = str(provider)
        if not by_notification:
            return []
        people = dict(
            (
                await conn.execute(
                    sa.select(notifications.c.id, notifications.c.person_id).where(
                        notifications.c.id.in_(list(by_notification))
                    )
                )
            ).all()
        )
        refs: list[SlackRef] = []
        for notification_id, provider in by_notification.items():
            channel, _, ts = provider.partition("/")
            ref = SlackRef(people.get(notification_id, "?"), channel, ts)
            if all(r.id != ref.id for r in refs):
                refs.append(ref)
        return refs

    async def for_person(self, incident_id: int, person_id: str) -> list[SlackRef]:
        async with self._db.read() as conn:
            return [r for r in await self.of(conn, incident_id) if r.person_id == person_id]


async def schedule_refresh(
    conn: AsyncConnection, incident_id: int, note: str, *, now: Any, key: str
) -> None:
    """Update the incident's Slack messages and reply ``note`` in their threads (in the
    caller's transaction; ``key`` makes it idempotent)."""
    await queue.schedule(
        conn,
        kind=REFRESH,
        key=f"{REFRESH}:{incident_id}:{key}"[:200],
        due_at=now,
        now=now,
        payload={"incident_id": incident_id, "note": note[:2000]},
        max_attempts=8,
    )


class SlackChannel:
    name = "slack"

    def __init__(
        self,
        token: str,
        *,
        api_url: str = "https://slack.com/api/",
        public_url: str = "http://127.0.0.1:4000",
        db: Database | None = None,
        client: Callable[[], AsyncWebClient] | None = None,
    ) -> None:
        self._token = token
        self._api_url = api_url
        self._public_url = public_url
        self._db = db
        self._threads = SlackThreads(db) if db is not None else None
        self._client = client or self._new_client

    def _new_client(self) -> AsyncWebClient:
        # No retry handlers: the dispatcher retries, with backoff and a record of each attempt.
        return AsyncWebClient(
            token=self._token, base_url=self._api_url, timeout=10, retry_handlers=[]
        )

    def address(self, person: Person) -> str | None:
        return person.slack_user_id

    async def send(self, recipient: Recipient, message: Message) -> Receipt:
        client = self._client()
        refs: list[SlackRef] = []
        if self._threads is not None and message.incident_id is not None:
            refs = await self._threads.for_person(message.incident_id, recipient.person_id)
        try:
            if refs and message.purpose != Purpose.TEST:
                ref = refs[-1]
                await self._update(client, ref, message)
                # A new page deserves a notification: the reply is also shown in the DM.
                page = message.purpose == Purpose.PAGE
                await self._reply(
                    client, ref, message.title, broadcast=page, metadata=metadata(message)
                )
                return Receipt(answer=f"updated {ref.id}", provider_id=ref.id)
            response = await client.chat_postMessage(
                channel=recipient.address,
                text=message.title,
                blocks=slack_blocks.blocks(message),
                unfurl_links=False,
                metadata=metadata(message),
            )
        except Exception as exc:
            raise slack_error(exc) from exc
        provider_id = f"{response['channel']}/{response['ts']}"
        return Receipt(answer=f"ok, posted {provider_id}", provider_id=provider_id)

    @staticmethod
    async def _update(client: AsyncWebClient, ref: SlackRef, message: Message) -> None:
        await client.chat_update(
            channel=ref.channel, ts=ref.ts, text=message.title, blocks=slack_blocks.blocks(message)
        )

    @staticmethod
    async def _reply(
        client: AsyncWebClient,
        ref: SlackRef,
        text: str,
        *,
        broadcast: bool,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        await client.chat_postMessage(
            channel=ref.channel,
            thread_ts=ref.ts,
            text=slack_blocks.escape(text),
            reply_broadcast=broadcast,
            metadata=metadata,
        )

    async def find(
        self, recipient: Recipient, message: Message, since: datetime, recorded: set[str]
    ) -> Receipt | None:
        """The message (or thread reply) carrying this notification's metadata, if Slack has
        it: looked for where ``send`` would have put it."""
        client = self._client()
        refs: list[SlackRef] = []
        if self._threads is not None and message.incident_id is not None:
            refs = await self._threads.for_person(message.incident_id, recipient.person_id)
        oldest = f"{since.timestamp():.6f}"
        try:
            if refs and message.purpose != Purpose.TEST:
                ref = refs[-1]
                found = await client.conversations_replies(
                    channel=ref.channel, ts=ref.ts, oldest=oldest, include_all_metadata=True
                )
                if _carries(found.get("messages") or [], message):
                    return Receipt(answer=f"updated {ref.id}", provider_id=ref.id)
                return None
            opened = await client.conversations_open(users=recipient.address)
            channel = str(opened["channel"]["id"])
            found = await client.conversations_history(
                channel=channel, oldest=oldest, include_all_metadata=True, limit=200
            )
        except Exception as exc:
            raise slack_error(exc) from exc
        for posted in found.get("messages") or []:
            if _carries([posted], message):
                provider_id = f"{channel}/{posted['ts']}"
                return Receipt(answer=f"ok, posted {provider_id}", provider_id=provider_id)
        return None

    async def refresh(self, item: WorkItem) -> Outcome:
        """Scheduled work: show the incident's current state in each of its messages."""
        assert self._db is not None and self._threads is not None
        incident_id = int(item.payload["incident_id"])
        note = str(item.payload.get("note") or "")
        async with self._db.read() as conn:
            incident = await store.incident(conn, incident_id, lock=False)
            refs = await self._threads.of(conn, incident_id)
        if incident is None or not refs:
            return None
        message = Message(
            notification_id=0,
            purpose=_PURPOSE_OF_STATE.get(incident.state.value, Purpose.PAGE),
            incident_id=incident.id,
            summary=incident.summary,
            severity=incident.severity.value,
            state=incident.state.value,
            service=incident.service,
            source=incident.source,
            links=Links(incident=f"{self._public_url}/api/incidents/{incident.id}"),
            labels=incident.labels,
        )
        client = self._client()
        failures = []
        for ref in refs:
            try:
                await self._update(client, ref, message)
                if note:
                    await self._reply(client, ref, note, broadcast=False)
            except Exception as exc:
                error = slack_error(exc)
                log.warning("Slack update of incident %s (%s): %s", incident_id, ref.id, error)
                if not error.permanent:
                    failures.append(error)
        if failures:
            return Retry(str(failures[0]))
        return None
