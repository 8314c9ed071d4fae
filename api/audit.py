"""The audit log: who did what to what, with which outcome, in which request."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from bounceback.api.logs import request_id_var
from bounceback.api.store.db import mark_changed
from bounceback.api.store.tables import audit_log


@dataclass(frozen=True)
class AuditFilter:
    actor: str | None = None
    action: str | None = None
    target: str | None = None
    outcome: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def audit_row(
    *,
    at: datetime,
    actor: str,
    action: str,
    target: str,
    outcome: str = "ok",
    details: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "at": at,
        "actor": actor,
        "action": action,
        "target": target,
        "outcome": outcome,
        "request_id": request_id_var.get(),
        "details": details or {},
    }


async def record(conn: AsyncConnection, **fields: Any) -> None:
    row = audit_row(**fields)
    await conn.execute(audit_log.insert().values(row))
    mark_changed(conn, row["action"].partition(".")[0])  # what changed, for live dashboards


async def list_records(
    conn: AsyncConnection, filters: AuditFilter, *, before_id: int | None, limit: int
) -> list[dict[str, Any]]:
    query = sa.select(audit_log).order_by(audit_log.c.id.desc()).limit(limit)
    if before_id is not None:
        query = query.where(audit_log.c.id < before_id)
    for column in ("actor", "action", "target", "outcome"):
        value = getattr(filters, column)
        if value is not None:
            query = query.where(audit_log.c[column] == value)
    if filters.since is not None:
        query = query.where(audit_log.c.at >= filters.since)
    if filters.until is not None:
        query = query.where(audit_log.c.at < filters.until)
    rows = await conn.execute(query)
    return [dict(row._mapping) for row in rows]
