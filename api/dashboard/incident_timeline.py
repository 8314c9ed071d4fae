"""One incident's whole story for its page: its own timeline (alerts, acknowledgements,
escalation steps, notes), who was paged and how (the notification outbox), and the recovery
attempts made under it, merged in time order."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from bounceback.api.schema import TimelineEvent
from bounceback.api.store.tables import notifications, recovery_attempts

MAX_ROWS = 500  # per source: an incident paged for days still renders a readable page


@dataclass(frozen=True)
class Entry:
    at: datetime
    kind: str  # what it is: alert, acknowledged, escalation, page, recovery, ...
    actor: str
    text: str
    detail: str = ""


@dataclass(frozen=True)
class Page:
    """One row of the notification outbox: one message to one person."""

    at: datetime
    person: str
    channel: str
    purpose: str
    level: str | None
    state: str
    attempts: int
    answer: str  # the provider's last answer; the error when it failed
    sent_at: datetime | None


@dataclass(frozen=True)
class Attempt:
    id: int
    action: str
    target: str
    host: str | None
    state: str
    trigger: str
    triggered_by: str
    try_number: int
    note: str
    started_at: datetime
    finished_at: datetime | None


async def pages_of(conn: AsyncConnection, incident_id: int) -> list[Page]:
    rows = await conn.execute(
        sa.select(notifications)
        .where(notifications.c.incident_id == incident_id)
        .order_by(notifications.c.id)
        .limit(MAX_ROWS)
    )
    return [
        Page(
            at=row.created_at,
            person=row.person_id,
            channel=row.channel,
            purpose=row.purpose,
            level=row.level,
            state=row.state,
            attempts=row.attempts,
            answer=row.answer or "",
            sent_at=row.sent_at,
        )
        for row in rows
    ]


async def attempts_of(conn: AsyncConnection, incident_id: int) -> list[Attempt]:
    rows = await conn.execute(
        sa.select(recovery_attempts)
        .where(recovery_attempts.c.incident_id == incident_id)
        .order_by(recovery_attempts.c.id)
        .limit(MAX_ROWS)
    )
    return [
        Attempt(
            id=row.id,
            action=row.action_id,
            target=row.target,
            host=row.host,
            state=row.state,
            trigger=row.trigger,
            triggered_by=row.triggered_by,
            try_number=row.try_number,
            note=row.note,
            started_at=row.created_at,
            finished_at=row.finished_at,
        )
        for row in rows
    ]


def _event(event: TimelineEvent) -> Entry:
    data: dict[str, Any] = event.data
    detail = str(data["note"]) if data.get("note") else ""
    return Entry(event.at, event.kind, event.actor, event.message, detail)


def _page(page: Page) -> Entry:
    level = f" ({page.level})" if page.level else ""
    attempts = f"{page.attempts} attempt{'s' if page.attempts != 1 else ''}"
    detail = f"{attempts}; {page.answer}" if page.answer else attempts
    return Entry(
        page.at,
        "page" if page.purpose == "page" else "notification",
        page.person,
        f"{page.purpose} to {page.person} by {page.channel}{level}: {page.state}",
        detail,
    )


def _attempt(attempt: Attempt) -> list[Entry]:
    name = f"recovery #{attempt.id} {attempt.action} on {attempt.target}"
    began = Entry(
        attempt.started_at,
        "recovery",
        attempt.triggered_by,
        f"{name} started (try {attempt.try_number}, {attempt.trigger})",
    )
    if attempt.finished_at is None:
        return [began]
    ended = Entry(
        attempt.finished_at, "recovery", "recovery", f"{name}: {attempt.state}", attempt.note
    )
    return [began, ended]


def merged(events: list[TimelineEvent], pages: list[Page], attempts: list[Attempt]) -> list[Entry]:
    """Everything in time order; at the same instant, the incident's own entries first."""
    entries = [_event(e) for e in events]
    entries += [_page(p) for p in pages]
    entries += [entry for attempt in attempts for entry in _attempt(attempt)]
    return sorted(entries, key=lambda entry: entry.at)  # stable: ties keep the order above
