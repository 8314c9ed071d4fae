"""Writing incident changes: shared by alert intake (in batches) and people's actions."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from bounceback.api.incidents.decide import Change, IncidentSnapshot
from bounceback.api.intake.event import AlertEvent
from bounceback.api.schema import IncidentState, Severity
from bounceback.api.store.tables import incident_events, incidents

_OPEN = incidents.c.state != IncidentState.RESOLVED.value
# The predicate of the open-incident index, spelled as the index spells it: PostgreSQL matches
# ON CONFLICT to a partial index only by an identical literal predicate, never a bound parameter.
_OPEN_INDEX_PREDICATE = sa.text("state != 'resolved'")


def _snapshot(row: Any) -> IncidentSnapshot:
    return IncidentSnapshot(
        id=row.id,
        state=IncidentState(row.state),
        severity=Severity(row.severity),
        silenced_until=row.silenced_until,
    )


async def open_by_fingerprint(
    conn: AsyncConnection, fingerprints: Iterable[str]
) -> dict[str, IncidentSnapshot]:
    """The open incidents for these fingerprints, locked until commit on PostgreSQL."""
    query = (
        sa.select(
            incidents.c.id,
            incidents.c.fingerprint,
            incidents.c.state,
            incidents.c.severity,
            incidents.c.silenced_until,
        )
        .where(incidents.c.fingerprint.in_(list(fingerprints)), _OPEN)
        .order_by(incidents.c.id)  # one lock order for every replica: no deadlocks
        .with_for_update()
    )
    rows = await conn.execute(query)
    return {row.fingerprint: _snapshot(row) for row in rows}


async def snapshot(conn: AsyncConnection, incident_id: int) -> IncidentSnapshot | None:
    query = (
        sa.select(
            incidents.c.id, incidents.c.state, incidents.c.severity, incidents.c.silenced_until
        )
        .where(incidents.c.id == incident_id)
        .with_for_update()
    )
    row = (await conn.execute(query)).first()
    return _snapshot(row) if row is not None else None


async def insert_open(
    conn: AsyncConnection, event: AlertEvent, change: Change, now: datetime
) -> int | None:
    """Open an incident; None when another writer opened one for this fingerprint first."""
    values = {
        "fingerprint": event.fingerprint,
        "dedup_key": event.dedup_key,
        "state": IncidentState.TRIGGERED.value,
        "severity": (change.severity or event.severity).value,
        "summary": event.summary,
        "source": event.source,
        "service": event.service,
        "labels": event.labels,
        "integration": event.integration,
        "alert_count": 1,
        "created_at": now,
        "updated_at": now,
        "last_alert_at": now,
    }
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    statement = (
        insert(incidents)
        .values(values)
        .on_conflict_do_nothing(index_elements=["fingerprint"], index_where=_OPEN_INDEX_PREDICATE)
        .returning(incidents.c.id)
    )
    incident_id: int | None = await conn.scalar(statement)
    return incident_id


def update_values(change: Change, now: datetime, *, summary: str | None = None) -> dict[str, Any]:
    values: dict[str, Any] = {"updated_at": now, **change.set_fields}
    if change.state is not None:
        values["state"] = change.state.value
    if change.severity is not None:
        values["severity"] = change.severity.value
    if change.alert:
        values["last_alert_at"] = now
        values["alert_count"] = incidents.c.alert_count + 1
        if summary:
            values["summary"] = summary
    return values


async def update(conn: AsyncConnection, incident_id: int, values: dict[str, Any]) -> None:
    await conn.execute(incidents.update().where(incidents.c.id == incident_id).values(values))


def event_rows(incident_id: int, change: Change, now: datetime) -> list[dict[str, Any]]:
    return [
        {
            "incident_id": incident_id,
            "at": now,
            "kind": entry.kind,
            "actor": entry.actor,
            "message": entry.message,
            "data": _jsonable(entry.data),
        }
        for entry in change.entries
    ]


async def insert_events(conn: AsyncConnection, rows: list[dict[str, Any]]) -> None:
    if rows:
        await conn.execute(incident_events.insert(), rows)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return value
