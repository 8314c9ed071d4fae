"""Recovery on the incident timeline: the incident an automatic recovery works under, its notes
(with the metrics before and after), resolving it on success, and the hand-off to a human."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from bounceback.api.escalation import handoff
from bounceback.api.escalation.store import timeline
from bounceback.api.incidents import store
from bounceback.api.intake.event import AlertEvent, EventAction
from bounceback.api.recovery.models import RecoveryAction
from bounceback.api.store.tables import incidents

SOURCE = "bounceback-recovery"
ACTOR = "recovery"


def _event(action: RecoveryAction, target: str, kind: EventAction, summary: str) -> AlertEvent:
    key = f"recovery:{action.id}:{target}"[:255]
    return AlertEvent(
        fingerprint=key,
        dedup_key=key,
        action=kind,
        severity=action.severity,
        summary=summary[:1024],
        source=SOURCE,
        actor=ACTOR,
        labels={"host": target, "recovery_action": action.id, "alert": "recovery"},
    )


async def open_for(
    conn: AsyncConnection, action: RecoveryAction, target: str, why: str, now: datetime
) -> int:
    """The open incident of this action on this target, opened if needed. It is not handed to
    escalation: recovery works on it first and asks for a human only when it gives up."""
    event = _event(action, target, EventAction.TRIGGER, f"{target}: {action.name}: {why}")
    applied = await store.open_or_find(conn, event, now)
    incident_id, change = applied.incident_id, applied.change
    assert incident_id is not None
    if change.open_new:  # its "opened" entry; an incident found open is left as it is
        await store.insert_events(conn, store.event_rows(incident_id, change, now))
    return incident_id


async def note(
    conn: AsyncConnection,
    incident_id: int | None,
    message: str,
    now: datetime,
    data: dict[str, Any],
) -> None:
    if incident_id is not None:
        await timeline(
            conn, incident_id, kind="recovery", actor=ACTOR, message=message, now=now, data=data
        )


async def recovered(conn: AsyncConnection, incident_id: int, now: datetime) -> None:
    """Resolve the incident when recovery opened it (others' incidents stay for their owner)."""
    row = (
        await conn.execute(
            sa.select(incidents.c.source, incidents.c.state).where(incidents.c.id == incident_id)
        )
    ).first()
    if row is None or row.source != SOURCE or row.state == "resolved":
        return
    await store.update(
        conn,
        incident_id,
        {"state": "resolved", "resolved_at": now, "resolved_by": ACTOR, "updated_at": now},
    )
    await handoff.changed(conn, incident_id, now=now)


async def needs_human(conn: AsyncConnection, incident_id: int, reason: str, now: datetime) -> None:
    """Mark the incident (label ``needs_human=true``) and start its escalation per policy."""
    labels = await conn.scalar(sa.select(incidents.c.labels).where(incidents.c.id == incident_id))
    if labels is None:
        return
    await store.update(
        conn, incident_id, {"labels": {**labels, "needs_human": "true"}, "updated_at": now}
    )
    await handoff.needs_human(conn, incident_id, reason, now=now)
