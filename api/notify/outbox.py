"""The notification outbox: one row per message to one person, written in the transaction of the
decision that caused it, each with a row of scheduled work that delivers it (``dispatcher``).

A row is ``pending`` until delivered (``sent``), given up on (``failed``: the next channel then
gets a row of its own) or no longer wanted (``skipped``: e.g. a page for an incident that was
acknowledged before it went out). ``dedup_key`` makes every decision's rows idempotent.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from bounceback.api.notify.channel import Purpose
from bounceback.api.notify.registry import ChannelRegistry
from bounceback.api.oncall.models import Person
from bounceback.api.store.tables import notifications
from bounceback.api.work import queue

DELIVER = "notify.deliver"
# Attempts per channel before the dispatcher falls back to the person's next channel.
MAX_ATTEMPTS = 6


class NotificationState(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"
    SKIPPED = "skipped"


def plan_channels(
    person: Person,
    preferred: tuple[str, ...] | None,
    *,
    allow_phone: bool,
    registry: ChannelRegistry,
) -> list[str]:
    """The channels to try for ``person``, in order: the level's choice (or the person's own
    order), only channels the person has an address on, that exist and are switched on; phone
    only when the incident is severe enough."""
    order = [c for c in preferred if c in person.channels] if preferred else list(person.channels)
    planned = []
    for name in order:
        channel = registry.usable(name)
        if channel is None or (name == "phone" and not allow_phone):
            continue
        if channel.address(person) is not None and name not in planned:
            planned.append(name)
    return planned


async def enqueue(
    conn: AsyncConnection,
    *,
    incident_id: int | None,
    purpose: Purpose,
    person_id: str,
    channels: list[str],
    dedup_key: str,
    now: datetime,
    level: str | None = None,
) -> int | None:
    """Add a message on ``channels[0]`` (the rest are its fallbacks) and its delivery work;
    None when a row with ``dedup_key`` exists already."""
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    values: dict[str, Any] = {
        "incident_id": incident_id,
        "dedup_key": dedup_key[:300],
        "purpose": purpose.value,
        "person_id": person_id,
        "channel": channels[0],
        "fallbacks": channels[1:],
        "level": level,
        "state": NotificationState.PENDING.value,
        "attempts": 0,
        "created_at": now,
    }
    statement = (
        insert(notifications)
        .values(values)
        .on_conflict_do_nothing(index_elements=["dedup_key"])
        .returning(notifications.c.id)
    )
    notification_id: int | None = await conn.scalar(statement)
    if notification_id is None:
        return None
    await queue.schedule(
        conn,
        kind=DELIVER,
        key=f"{DELIVER}:{notification_id}",
        due_at=now,
        now=now,
        payload={"id": notification_id},
        max_attempts=MAX_ATTEMPTS,
    )
    return notification_id


async def paged(conn: AsyncConnection, incident_id: int) -> dict[str, str]:
    """The people paged for the incident (sent or on the way), with the channel that reached
    them (or was last tried)."""
    rows = await conn.execute(
        sa.select(notifications.c.person_id, notifications.c.channel, notifications.c.state)
        .where(
            notifications.c.incident_id == incident_id,
            notifications.c.purpose == Purpose.PAGE.value,
        )
        .order_by(notifications.c.id)
    )
    sent: dict[str, str] = {}
    pending: dict[str, str] = {}
    for person_id, channel, state in rows:
        if state == NotificationState.SENT.value:
            sent[person_id] = channel
        elif state == NotificationState.PENDING.value:
            pending[person_id] = channel
    return {**pending, **sent}
