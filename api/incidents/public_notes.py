"""Public notes: what the public status page may say about an incident.

An incident's summary, labels, service and timeline are internal (hostnames, people, alert
text). The status page shows none of them: only the notes an operator wrote *for the public*
(``POST /api/incidents/{id}/public-note``), each stored as a ``public_note`` event on the
incident's timeline (so the team sees what was published, and by whom) and audited.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Annotated

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy.ext.asyncio import AsyncConnection

from bounceback.api import audit
from bounceback.api.clock import Clock
from bounceback.api.errors import NotFound
from bounceback.api.schema import IncidentState, Severity
from bounceback.api.store.db import Database
from bounceback.api.store.tables import incident_events, incidents

KIND = "public_note"


class PublicStatus(StrEnum):
    """Statuspage's incident statuses while an incident is open."""

    INVESTIGATING = "investigating"
    IDENTIFIED = "identified"
    MONITORING = "monitoring"


class PublicNoteBody(BaseModel):
    """``POST /api/incidents/{id}/public-note``: published as written, so write it for users."""

    model_config = ConfigDict(extra="forbid")
    message: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
    status: PublicStatus = PublicStatus.INVESTIGATING
    # The incident's public name (the latest note's title wins); never its internal summary.
    title: (
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
        | None
    ) = Field(None)


@dataclass(frozen=True)
class PublicNote:
    id: int
    at: datetime
    status: PublicStatus
    message: str
    title: str | None


@dataclass(frozen=True)
class PublicIncident:
    """An open incident with at least one public note; the service and severity only decide
    which component it concerns and its impact, they are not shown as such."""

    id: int
    service: str | None
    severity: Severity
    created_at: datetime
    notes: tuple[PublicNote, ...]  # oldest first


async def add(
    db: Database, clock: Clock, incident_id: int, actor: str, body: PublicNoteBody
) -> None:
    now = clock.now()
    async with db.transaction() as conn:
        found = await conn.scalar(sa.select(incidents.c.id).where(incidents.c.id == incident_id))
        if found is not None:
            await conn.execute(
                incident_events.insert().values(
                    incident_id=incident_id,
                    at=now,
                    kind=KIND,
                    actor=actor,
                    message=body.message,
                    data={"status": body.status.value, "title": body.title},
                )
            )
        await audit.record(
            conn,
            at=now,
            actor=actor,
            action="incident.public_note",
            target=f"incident:{incident_id}",
            outcome="ok" if found is not None else "not_found",
            details={"status": body.status.value, "title": body.title},
        )
    if found is None:
        raise NotFound(f"incident {incident_id} does not exist")


def _note(event_id: int, at: datetime, message: str, data: object) -> PublicNote:
    fields = data if isinstance(data, dict) else {}
    try:
        status = PublicStatus(str(fields.get("status")))
    except ValueError:
        status = PublicStatus.INVESTIGATING
    title = fields.get("title")
    return PublicNote(event_id, at, status, message, title if isinstance(title, str) else None)


async def open_with_notes(conn: AsyncConnection) -> list[PublicIncident]:
    """Open incidents that have public notes, newest incident first."""
    rows = await conn.execute(
        sa.select(
            incidents.c.id,
            incidents.c.service,
            incidents.c.severity,
            incidents.c.created_at,
            incident_events.c.id,
            incident_events.c.at,
            incident_events.c.message,
            incident_events.c.data,
        )
        .join(incident_events, incident_events.c.incident_id == incidents.c.id)
        .where(incidents.c.state != IncidentState.RESOLVED.value, incident_events.c.kind == KIND)
        .order_by(incidents.c.id.desc(), incident_events.c.id)
    )
    found: dict[int, PublicIncident] = {}
    for incident_id, service, severity, created_at, event_id, at, message, data in rows:
        note = _note(event_id, at, message, data)
        known = found.get(incident_id)
        notes = (*known.notes, note) if known else (note,)
        found[incident_id] = PublicIncident(
            incident_id, service, Severity(severity), created_at, notes
        )
    return list(found.values())
