"""Rows of escalation: the escalation itself, the incident it follows, its timeline entries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from bounceback.api.escalation.engine import Status
from bounceback.api.escalation.models import PolicySnapshot
from bounceback.api.schema import IncidentState, Severity
from bounceback.api.store.tables import escalations, incident_events, incidents


@dataclass(frozen=True)
class IncidentView:
    id: int
    state: IncidentState
    severity: Severity
    summary: str
    source: str
    service: str | None
    labels: dict[str, str]
    silenced_until: datetime | None
    acknowledged_by: str | None
    resolved_by: str | None


@dataclass(frozen=True)
class EscalationRow:
    incident_id: int
    policy_id: str
    snapshot: PolicySnapshot
    status: Status
    step: int
    next_step_at: datetime | None
    level: int | None
    started_at: datetime


_INCIDENT_COLUMNS = (
    incidents.c.id,
    incidents.c.state,
    incidents.c.severity,
    incidents.c.summary,
    incidents.c.source,
    incidents.c.service,
    incidents.c.labels,
    incidents.c.silenced_until,
    incidents.c.acknowledged_by,
    incidents.c.resolved_by,
)


def incident_view(row: Any) -> IncidentView:
    return IncidentView(
        id=row.id,
        state=IncidentState(row.state),
        severity=Severity(row.severity),
        summary=row.summary,
        source=row.source,
        service=row.service,
        labels=dict(row.labels or {}),
        silenced_until=row.silenced_until,
        acknowledged_by=row.acknowledged_by,
        resolved_by=row.resolved_by,
    )


async def incident(conn: AsyncConnection, incident_id: int, *, lock: bool) -> IncidentView | None:
    query = sa.select(*_INCIDENT_COLUMNS).where(incidents.c.id == incident_id)
    if lock:
        query = query.with_for_update()
    row = (await conn.execute(query)).first()
    return incident_view(row) if row is not None else None


def _escalation(row: Any) -> EscalationRow:
    return EscalationRow(
        incident_id=row.incident_id,
        policy_id=row.policy_id,
        snapshot=PolicySnapshot.model_validate(row.snapshot),
        status=Status(row.status),
        step=row.step,
        next_step_at=row.next_step_at,
        level=row.level,
        started_at=row.started_at,
    )


async def get(conn: AsyncConnection, incident_id: int, *, lock: bool) -> EscalationRow | None:
    query = sa.select(escalations).where(escalations.c.incident_id == incident_id)
    if lock:
        query = query.with_for_update()
    row = (await conn.execute(query)).first()
    return _escalation(row) if row is not None else None


async def insert(
    conn: AsyncConnection,
    incident_id: int,
    snapshot: PolicySnapshot,
    reason: str,
    now: datetime,
) -> bool:
    """The escalation of ``incident_id``, due at once; False when it has one already."""
    statement = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    result = await conn.execute(
        statement(escalations)
        .values(
            incident_id=incident_id,
            policy_id=snapshot.policy_id,
            snapshot=snapshot.model_dump(mode="json"),
            status=Status.ACTIVE.value,
            step=0,
            next_step_at=now,
            level=None,
            reason=reason,
            started_at=now,
            updated_at=now,
        )
        .on_conflict_do_nothing(index_elements=["incident_id"])
    )
    return bool(result.rowcount)


async def update(conn: AsyncConnection, incident_id: int, values: dict[str, Any]) -> None:
    await conn.execute(
        escalations.update().where(escalations.c.incident_id == incident_id).values(values)
    )


async def timeline(
    conn: AsyncConnection,
    incident_id: int,
    *,
    kind: str,
    actor: str,
    message: str,
    now: datetime,
    data: dict[str, Any] | None = None,
) -> None:
    await conn.execute(
        incident_events.insert().values(
            incident_id=incident_id,
            at=now,
            kind=kind,
            actor=actor,
            message=message,
            data=data or {},
        )
    )
