"""Reading escalations for the API: counts, the active ones, one in detail."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from bounceback.api.errors import NotFound
from bounceback.api.escalation.engine import Status
from bounceback.api.store.tables import escalations, incidents, notifications

MAX_ACTIVE = 500


async def status_counts(conn: AsyncConnection) -> dict[str, dict[str, int]]:
    by_status = {status.value: 0 for status in Status}
    rows = await conn.execute(
        sa.select(escalations.c.status, sa.func.count()).group_by(escalations.c.status)
    )
    by_status.update({status: count for status, count in rows})
    outbox: dict[str, int] = {}
    rows = await conn.execute(
        sa.select(notifications.c.state, sa.func.count()).group_by(notifications.c.state)
    )
    outbox.update({state: count for state, count in rows})
    return {"escalations": by_status, "outbox": outbox}


def _row(row: Any) -> dict[str, Any]:
    snapshot = row.snapshot
    level = row.level
    return {
        "incident_id": row.incident_id,
        "summary": row.summary,
        "severity": row.severity,
        "incident_state": row.state,
        "policy": row.policy_id,
        "status": row.status,
        "level": snapshot["levels"][level]["name"] if level is not None else None,
        "next_step_at": row.next_step_at.isoformat() if row.next_step_at else None,
        "started_at": row.started_at.isoformat(),
        "acknowledged_by": row.acknowledged_by,
        "acknowledged_via": row.acknowledged_via,
        "ended_at": row.ended_at.isoformat() if row.ended_at else None,
        "levels": [
            {"name": lv["name"], "timeout_minutes": lv["timeout_seconds"] / 60}
            for lv in snapshot["levels"]
        ],
    }


_SELECT = sa.select(escalations, incidents.c.summary, incidents.c.severity, incidents.c.state).join(
    incidents, incidents.c.id == escalations.c.incident_id
)


async def active(conn: AsyncConnection) -> list[dict[str, Any]]:
    rows = await conn.execute(
        _SELECT.where(escalations.c.status == Status.ACTIVE.value)
        .order_by(escalations.c.next_step_at, escalations.c.incident_id)
        .limit(MAX_ACTIVE)
    )
    return [_row(row) for row in rows]


async def escalation_detail(conn: AsyncConnection, incident_id: int) -> dict[str, Any]:
    row = (await conn.execute(_SELECT.where(escalations.c.incident_id == incident_id))).first()
    if row is None:
        state = await conn.scalar(sa.select(incidents.c.state).where(incidents.c.id == incident_id))
        if state is None:
            raise NotFound(f"incident {incident_id} does not exist")
        return {"incident_id": incident_id, "incident_state": state, "status": None}
    found = _row(row)
    paged = await conn.execute(
        sa.select(
            notifications.c.person_id,
            notifications.c.channel,
            notifications.c.purpose,
            notifications.c.state,
            notifications.c.level,
        )
        .where(notifications.c.incident_id == incident_id)
        .order_by(notifications.c.id)
    )
    found["notifications"] = [dict(r._mapping) for r in paged]
    return found
