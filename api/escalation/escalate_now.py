"""Escalate now: an operator pages an incident's next escalation level at once, instead of
waiting out the current level's timeout.

Nothing is paged here. The escalation's pending step is made due now in the scheduled work and
the escalation worker takes it like every other step (one path for paging, its timeline entry
and its outbox rows); the next level's own timeout then counts from now. The request, accepted
or refused, is on the incident's timeline (when accepted) and in the audit log.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from bounceback.api import audit
from bounceback.api.clock import Clock
from bounceback.api.errors import Conflict, NotFound
from bounceback.api.escalation import store
from bounceback.api.escalation.engine import Status
from bounceback.api.escalation.models import LevelSnapshot
from bounceback.api.escalation.steps import STEP, step_key
from bounceback.api.escalation.store import EscalationRow, IncidentView
from bounceback.api.schema import IncidentState
from bounceback.api.store.db import Database
from bounceback.api.work import queue

ACTION = "escalation.escalate_now"


def next_level(
    incident: IncidentView, escalation: EscalationRow | None, now: datetime
) -> LevelSnapshot | str:
    """The level the next step pages, or why escalating now is refused."""
    if incident.state != IncidentState.TRIGGERED:
        return f"the incident is {incident.state.value}; only a triggered incident escalates"
    if escalation is None:
        return "the incident has no escalation (no policy matched it, or escalation is off)"
    if escalation.status != Status.ACTIVE:
        return f"its escalation is {escalation.status.value}, not active"
    if incident.silenced_until is not None and now < incident.silenced_until:
        return (
            f"the incident is silenced until {incident.silenced_until.isoformat()}; "
            "nobody is paged before then"
        )
    levels = escalation.snapshot.levels
    if escalation.step >= len(levels):
        return f"the last level ({levels[-1].name}) was paged already"
    return levels[escalation.step]


async def escalate_now(
    db: Database,
    clock: Clock,
    incident_id: int,
    actor: str,
    *,
    via: str,
    wake: Callable[[], None],
) -> str:
    """Page the next level now; the level's name. NotFound, or Conflict with the reason.

    ``wake`` tells the scheduler new work is due (after the commit)."""
    now = clock.now()
    refusal: str | None = None
    level = ""
    async with db.transaction() as conn:
        # Locked in the order the escalation worker's step locks them.
        escalation = await store.get(conn, incident_id, lock=True)
        incident = await store.incident(conn, incident_id, lock=True)
        if incident is None:
            outcome, details = "not_found", {"via": via}
        else:
            found = next_level(incident, escalation, now)
            if isinstance(found, str):
                refusal = found
                outcome, details = "refused", {"via": via, "reason": refusal}
            else:
                assert escalation is not None
                level = found.name
                await _make_due(conn, escalation, now)
                was_due = escalation.next_step_at.isoformat() if escalation.next_step_at else None
                await store.timeline(
                    conn,
                    incident_id,
                    kind="escalation",
                    actor=actor,
                    message=f"escalate now by {actor} via {via}: {level} is paged at once",
                    now=now,
                    data={"level": level, "step": escalation.step, "was_due": was_due, "via": via},
                )
                outcome, details = "ok", {"via": via, "level": level}
        await audit.record(
            conn,
            at=now,
            actor=actor,
            action=ACTION,
            target=f"incident:{incident_id}",
            outcome=outcome,
            details=details,
        )
    if incident is None:
        raise NotFound(f"incident {incident_id} does not exist")
    if refusal is not None:
        raise Conflict(refusal, {"incident_id": incident_id, "state": incident.state.value})
    wake()
    return level


async def _make_due(conn: AsyncConnection, escalation: EscalationRow, now: datetime) -> None:
    incident_id, step = escalation.incident_id, escalation.step
    key = step_key(incident_id, step)
    if not await queue.bring_forward(conn, key, now):
        # The step's row is gone or running: another row for the same step is harmless, the
        # worker takes a step only while the escalation still waits for that step number.
        await queue.schedule(
            conn,
            kind=STEP,
            key=f"{key}:now:{now.isoformat()}",
            due_at=now,
            now=now,
            payload={"incident_id": incident_id, "step": step},
            max_attempts=10,
        )
    await store.update(conn, incident_id, {"next_step_at": now, "updated_at": now})
