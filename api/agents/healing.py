"""Healing attempts as the agents report them: stored per attempt, queried as history and active.

An attempt is reported when it starts and again when it ends; the row keeps the latest word,
except that a finished attempt never goes back to ``started`` (a replayed or late event).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from bounceback.api.agent_wire import HealingAttempt, HealingOutcome
from bounceback.api.agents.validate import clean, jsonable, utc
from bounceback.api.store.tables import agents, healing_attempts

_COLUMNS = [*healing_attempts.c, agents.c.hostname]


def supersedes(current: HealingOutcome | None, incoming: HealingOutcome) -> bool:
    """Whether a report of ``incoming`` replaces the stored ``current`` outcome."""
    return (
        current is None or current == HealingOutcome.STARTED or (incoming != HealingOutcome.STARTED)
    )


async def record(
    conn: AsyncConnection, agent_id: str, attempt: HealingAttempt, now: datetime
) -> bool:
    """Insert or update the attempt; True when it is new or its outcome changed.

    The caller holds the agent's lock, so reports of one agent never race here.
    """
    values: dict[str, Any] = clean(
        {
            "action": attempt.action,
            "type": attempt.type,
            "target": attempt.target,
            "trigger": attempt.trigger,
            "outcome": attempt.outcome.value,
            "reason": attempt.reason,
            "started_at": utc(attempt.started_at),
            "finished_at": utc(attempt.finished_at) if attempt.finished_at else None,
            "escalate": attempt.escalate,
            "updated_at": now,
        }
    )
    values["before"] = jsonable(attempt.before)
    values["after"] = jsonable(attempt.after)
    key = sa.and_(
        healing_attempts.c.agent_id == agent_id,
        healing_attempts.c.attempt_id == attempt.attempt_id,
    )
    current: str | None = await conn.scalar(sa.select(healing_attempts.c.outcome).where(key))
    if current is None:
        await conn.execute(
            healing_attempts.insert().values(
                agent_id=agent_id, attempt_id=attempt.attempt_id, **values
            )
        )
        return True
    if not supersedes(HealingOutcome(current), attempt.outcome):
        return False
    await conn.execute(healing_attempts.update().where(key).values(values))
    return current != attempt.outcome.value


async def link_incident(
    conn: AsyncConnection, agent_id: str, attempt_id: str, incident_id: int
) -> None:
    await conn.execute(
        healing_attempts.update()
        .where(
            healing_attempts.c.agent_id == agent_id,
            healing_attempts.c.attempt_id == attempt_id,
        )
        .values(incident_id=incident_id)
    )


def view(row: Any) -> dict[str, Any]:
    duration = (
        round((row.finished_at - row.started_at).total_seconds(), 3) if row.finished_at else None
    )
    return {
        "id": row.id,
        "host": row.agent_id,
        "hostname": row.hostname,
        "attempt_id": row.attempt_id,
        "action": row.action,
        "type": row.type,
        "target": row.target,
        "trigger": row.trigger,
        "outcome": row.outcome,
        "reason": row.reason,
        "started_at": row.started_at.isoformat(),
        "finished_at": row.finished_at.isoformat() if row.finished_at else None,
        "duration_seconds": duration,
        "before": row.before,
        "after": row.after,
        "escalate": row.escalate,
        "incident_id": row.incident_id,
    }


@dataclass(frozen=True)
class HistoryFilter:
    host: str | None = None
    action: str | None = None
    outcome: HealingOutcome | None = None
    since: datetime | None = None
    until: datetime | None = None


def _joined() -> sa.Select[Any]:
    return sa.select(*_COLUMNS).join_from(
        healing_attempts, agents, healing_attempts.c.agent_id == agents.c.id
    )


async def history(
    conn: AsyncConnection, filters: HistoryFilter, *, before_id: int | None, limit: int
) -> list[dict[str, Any]]:
    """Attempts newest first (by when the hub first heard of them)."""
    query = _joined().order_by(healing_attempts.c.id.desc()).limit(limit)
    if before_id is not None:
        query = query.where(healing_attempts.c.id < before_id)
    if filters.host is not None:
        query = query.where(healing_attempts.c.agent_id == filters.host)
    if filters.action is not None:
        query = query.where(healing_attempts.c.action == filters.action)
    if filters.outcome is not None:
        query = query.where(healing_attempts.c.outcome == filters.outcome.value)
    if filters.since is not None:
        query = query.where(healing_attempts.c.started_at >= filters.since)
    if filters.until is not None:
        query = query.where(healing_attempts.c.started_at < filters.until)
    return [view(row) for row in await conn.execute(query)]


async def active(conn: AsyncConnection, host: str | None = None) -> list[dict[str, Any]]:
    """Attempts that started and have not reported an outcome yet, oldest first."""
    query = (
        _joined()
        .where(healing_attempts.c.outcome == HealingOutcome.STARTED.value)
        .order_by(healing_attempts.c.started_at, healing_attempts.c.id)
    )
    if host is not None:
        query = query.where(healing_attempts.c.agent_id == host)
    return [view(row) for row in await conn.execute(query)]


async def active_count(conn: AsyncConnection) -> int:
    found = await conn.scalar(
        sa.select(sa.func.count()).where(healing_attempts.c.outcome == HealingOutcome.STARTED.value)
    )
    return found or 0


async def counts(conn: AsyncConnection, since: datetime) -> dict[str, Any]:
    """Active attempts now, and attempts started since ``since`` by outcome."""
    rows = await conn.execute(
        sa.select(healing_attempts.c.outcome, sa.func.count())
        .where(healing_attempts.c.started_at >= since)
        .group_by(healing_attempts.c.outcome)
    )
    by_outcome = {outcome.value: 0 for outcome in HealingOutcome}
    by_outcome.update({outcome: count for outcome, count in rows})
    return {"active": await active_count(conn), "recent_by_outcome": by_outcome}
