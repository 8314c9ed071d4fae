"""Reading incidents: filtered lists, one incident with its timeline, counts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from bounceback.api.schema import Incident, IncidentDetail, IncidentState, Severity, TimelineEvent
from bounceback.api.store.tables import incident_events, incidents

_COLUMNS = [c for c in incidents.c if c.name != "fingerprint"]


@dataclass(frozen=True)
class IncidentFilter:
    state: IncidentState | None = None
    severity: Severity | None = None
    service: str | None = None
    source: str | None = None
    integration: str | None = None


def _incident(row: Any) -> Incident:
    return Incident.model_validate(dict(row._mapping))


async def list_incidents(
    conn: AsyncConnection, filters: IncidentFilter, *, before_id: int | None, limit: int
) -> list[Incident]:
    query = sa.select(*_COLUMNS).order_by(incidents.c.id.desc()).limit(limit)
    if before_id is not None:
        query = query.where(incidents.c.id < before_id)
    if filters.state is not None:
        query = query.where(incidents.c.state == filters.state.value)
    if filters.severity is not None:
        query = query.where(incidents.c.severity == filters.severity.value)
    for name in ("service", "source", "integration"):
        value = getattr(filters, name)
        if value is not None:
            query = query.where(incidents.c[name] == value)
    return [_incident(row) for row in await conn.execute(query)]


async def get_incident(conn: AsyncConnection, incident_id: int) -> IncidentDetail | None:
    row = (await conn.execute(sa.select(*_COLUMNS).where(incidents.c.id == incident_id))).first()
    if row is None:
        return None
    events = await conn.execute(
        sa.select(
            incident_events.c.at,
            incident_events.c.kind,
            incident_events.c.actor,
            incident_events.c.message,
            incident_events.c.data,
        )
        .where(incident_events.c.incident_id == incident_id)
        .order_by(incident_events.c.id)
    )
    timeline = [TimelineEvent.model_validate(dict(event._mapping)) for event in events]
    return IncidentDetail(**_incident(row).model_dump(), timeline=timeline)


async def counts(conn: AsyncConnection) -> dict[str, Any]:
    by_state: dict[str, int] = {state.value: 0 for state in IncidentState}
    open_by_severity: dict[str, int] = {severity.value: 0 for severity in Severity}
    rows = await conn.execute(
        sa.select(incidents.c.state, incidents.c.severity, sa.func.count()).group_by(
            incidents.c.state, incidents.c.severity
        )
    )
    for state, severity, count in rows:
        by_state[state] = by_state.get(state, 0) + count
        if state != IncidentState.RESOLVED.value:
            open_by_severity[severity] = open_by_severity.get(severity, 0) + count
    return {
        "total": sum(by_state.values()),
        "open": by_state["triggered"] + by_state["acknowledged"],
        "by_state": by_state,
        "open_by_severity": open_by_severity,
    }
