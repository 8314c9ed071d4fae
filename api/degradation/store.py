"""Degradation rules' states and their history in the store."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from bounceback.api.agents.store import upsert
from bounceback.api.degradation.evaluate import Mode, RuleState
from bounceback.api.store.tables import degradation_events as events
from bounceback.api.store.tables import degradation_rules as rules


def _state(row: Any) -> RuleState:
    return RuleState(
        active=row.active,
        mode=Mode(row.mode) if row.mode else None,
        since=row.since,
        reason=row.reason,
        actor=row.actor,
        clear_since=row.clear_since,
        suppressed=row.suppressed,
    )


async def states(conn: AsyncConnection, *, lock: bool = False) -> dict[str, RuleState]:
    """Every stored rule state; with ``lock``, held until commit (one writer at a time)."""
    query = sa.select(rules).order_by(rules.c.rule_id)
    if lock:
        query = query.with_for_update()
    return {row.rule_id: _state(row) for row in await conn.execute(query)}


async def state(conn: AsyncConnection, rule_id: str, *, lock: bool = False) -> RuleState:
    query = sa.select(rules).where(rules.c.rule_id == rule_id)
    if lock:
        query = query.with_for_update()
    row = (await conn.execute(query)).first()
    return RuleState() if row is None else _state(row)


async def save(conn: AsyncConnection, rule_id: str, value: RuleState, now: datetime) -> None:
    values = {
        "active": value.active,
        "mode": value.mode.value if value.mode else None,
        "since": value.since,
        "reason": value.reason,
        "actor": value.actor,
        "clear_since": value.clear_since,
        "suppressed": value.suppressed,
        "updated_at": now,
    }
    await conn.execute(
        upsert(conn, rules)
        .values(rule_id=rule_id, **values)
        .on_conflict_do_update(index_elements=["rule_id"], set_=values)
    )


async def add_event(
    conn: AsyncConnection,
    *,
    rule_id: str,
    at: datetime,
    change: str,
    level: str,
    actor: str,
    message: str,
) -> None:
    await conn.execute(
        events.insert().values(
            rule_id=rule_id, at=at, change=change, level=level, actor=actor, message=message
        )
    )


async def recent_events(
    conn: AsyncConnection, *, rule_id: str | None = None, limit: int = 50
) -> list[dict[str, Any]]:
    query = sa.select(events).order_by(events.c.at.desc(), events.c.id.desc()).limit(limit)
    if rule_id is not None:
        query = query.where(events.c.rule_id == rule_id)
    return [
        {
            "rule_id": row.rule_id,
            "at": row.at.isoformat(),
            "change": row.change,
            "level": row.level,
            "actor": row.actor,
            "message": row.message,
        }
        for row in await conn.execute(query)
    ]
