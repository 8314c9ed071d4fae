"""Recovery's rows: API-managed actions, attempts and held thresholds (SQLAlchemy Core)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from bounceback.api.agents.store import upsert
from bounceback.api.recovery.decide import ACTIVE_STATES, FINAL_STATES, OPEN_STATES
from bounceback.api.recovery.models import RecoveryAction
from bounceback.api.store.tables import (
    recovery_actions,
    recovery_attempts,
    recovery_breaches,
    switches,
)

attempts = recovery_attempts
_OPEN = [s.value for s in OPEN_STATES]


# -- actions ------------------------------------------------------------------------------------


async def api_actions(conn: AsyncConnection) -> list[RecoveryAction]:
    rows = await conn.execute(sa.select(recovery_actions.c.document))
    return [RecoveryAction.model_validate(row.document) for row in rows]


async def put_action(
    conn: AsyncConnection, action: RecoveryAction, actor: str, now: datetime
) -> None:
    values = {"document": action.shown(), "updated_at": now, "updated_by": actor}
    await conn.execute(
        upsert(conn, recovery_actions)
        .values(id=action.id, **values)
        .on_conflict_do_update(index_elements=["id"], set_=values)
    )


async def delete_action(conn: AsyncConnection, action_id: str) -> bool:
    result = await conn.execute(recovery_actions.delete().where(recovery_actions.c.id == action_id))
    return bool(result.rowcount)


# -- held thresholds ----------------------------------------------------------------------------


async def breaches(conn: AsyncConnection, host: str) -> dict[str, datetime]:
    rows = await conn.execute(
        sa.select(recovery_breaches.c.action_id, recovery_breaches.c.since).where(
            recovery_breaches.c.host == host
        )
    )
    return {row.action_id: row.since for row in rows}


async def breaches_of(conn: AsyncConnection, hosts: list[str]) -> dict[str, dict[str, datetime]]:
    """``breaches`` of several hosts in one query (every host present, most with none)."""
    found: dict[str, dict[str, datetime]] = {host: {} for host in hosts}
    if hosts:
        rows = await conn.execute(
            sa.select(
                recovery_breaches.c.host, recovery_breaches.c.action_id, recovery_breaches.c.since
            ).where(recovery_breaches.c.host.in_(hosts))
        )
        for row in rows:
            found[row.host][row.action_id] = row.since
    return found


async def set_breaches(
    conn: AsyncConnection, host: str, held: dict[str, datetime], cleared: list[str]
) -> None:
    if cleared:
        await conn.execute(
            recovery_breaches.delete().where(
                recovery_breaches.c.host == host, recovery_breaches.c.action_id.in_(cleared)
            )
        )
    for action_id, since in held.items():
        await conn.execute(
            upsert(conn, recovery_breaches)
            .values(action_id=action_id, host=host, since=since)
            .on_conflict_do_update(index_elements=["action_id", "host"], set_={"since": since})
        )


# -- attempts -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class AttemptRow:
    id: int
    action_id: str
    target: str
    host: str | None
    incident_id: int | None
    episode_id: int
    episode_started_at: datetime
    try_number: int
    state: str
    trigger: str
    triggered_by: str
    action: dict[str, Any]
    steps: list[dict[str, Any]]
    before: dict[str, Any]
    after: dict[str, Any] | None
    note: str
    created_at: datetime
    phase_started_at: datetime
    step_deadline: datetime | None
    finished_at: datetime | None

    def shown(self) -> dict[str, Any]:
        times = ("episode_started_at", "created_at", "phase_started_at", "finished_at")
        body = {name: getattr(self, name) for name in self.__dataclass_fields__}
        for name in (*times, "step_deadline"):
            value = body[name]
            body[name] = value.isoformat() if value is not None else None
        body["action"] = {"id": self.action_id, "name": self.action.get("name")}
        end = self.finished_at
        body["duration_seconds"] = (
            round((end - self.created_at).total_seconds(), 3) if end is not None else None
        )
        return body


def _row(row: Any) -> AttemptRow:
    return AttemptRow(
        **{name: getattr(row, name) for name in AttemptRow.__dataclass_fields__ if name != "id"},
        id=row.id,
    )


async def insert_attempt(conn: AsyncConnection, values: dict[str, Any]) -> int | None:
    """A new attempt; None when one of the same action and target is still open."""
    try:
        async with conn.begin_nested():
            new_id: int = (
                await conn.execute(attempts.insert().values(values).returning(attempts.c.id))
            ).scalar_one()
    except sa.exc.IntegrityError:
        return None
    if values.get("episode_id") is None:
        await conn.execute(
            attempts.update().where(attempts.c.id == new_id).values(episode_id=new_id)
        )
    return new_id


async def get_attempt(conn: AsyncConnection, attempt_id: int, *, lock: bool) -> AttemptRow | None:
    query = sa.select(attempts).where(attempts.c.id == attempt_id)
    if lock:
        query = query.with_for_update()
    row = (await conn.execute(query)).first()
    return _row(row) if row is not None else None


async def update_attempt(conn: AsyncConnection, attempt_id: int, values: dict[str, Any]) -> None:
    await conn.execute(attempts.update().where(attempts.c.id == attempt_id).values(values))


async def count_active(conn: AsyncConnection) -> int:
    active = [s.value for s in ACTIVE_STATES]
    found = await conn.scalar(
        sa.select(sa.func.count()).select_from(attempts).where(attempts.c.state.in_(active))
    )
    return int(found or 0)


async def open_for_pair(conn: AsyncConnection, action_id: str, target: str) -> bool:
    found = await conn.scalar(
        sa.select(attempts.c.id)
        .where(
            attempts.c.action_id == action_id,
            attempts.c.target == target,
            attempts.c.state.in_(_OPEN),
        )
        .limit(1)
    )
    return found is not None


async def last_episode(
    conn: AsyncConnection, target: str, action_id: str | None = None
) -> datetime | None:
    """When the latest episode on ``target`` (of ``action_id``) began."""
    query = sa.select(sa.func.max(attempts.c.episode_started_at)).where(attempts.c.target == target)
    if action_id is not None:
        query = query.where(attempts.c.action_id == action_id)
    row = (await conn.execute(query)).first()
    value = row[0] if row is not None else None
    if isinstance(value, str):  # SQLite returns an aggregate of a datetime column as text
        value = datetime.fromisoformat(value)
    if value is not None and value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value


@dataclass(frozen=True)
class HistoryFilter:
    action_id: str | None = None
    target: str | None = None
    state: str | None = None
    trigger: str | None = None


async def page(
    conn: AsyncConnection,
    filters: HistoryFilter,
    *,
    before_id: int | None,
    limit: int,
    open_only: bool = False,
) -> list[AttemptRow]:
    query = sa.select(attempts).order_by(attempts.c.id.desc()).limit(limit)
    if open_only:
        query = query.where(attempts.c.state.in_(_OPEN))
    if before_id is not None:
        query = query.where(attempts.c.id < before_id)
    for column, value in (
        (attempts.c.action_id, filters.action_id),
        (attempts.c.target, filters.target),
        (attempts.c.state, filters.state),
        (attempts.c.trigger, filters.trigger),
    ):
        if value is not None:
            query = query.where(column == value)
    return [_row(row) for row in await conn.execute(query)]


async def episode_ends(conn: AsyncConnection, since: datetime) -> list[AttemptRow]:
    """Last tries of episodes that ended since ``since`` (succeeded or escalated)."""
    ends = [s.value for s in FINAL_STATES if s.value != "rolled_back"]
    query = sa.select(attempts).where(attempts.c.state.in_(ends), attempts.c.finished_at >= since)
    return [_row(row) for row in await conn.execute(query)]


async def state_counts(conn: AsyncConnection) -> dict[str, int]:
    rows = await conn.execute(
        sa.select(attempts.c.state, sa.func.count()).group_by(attempts.c.state)
    )
    return {state: count for state, count in rows}


async def admission_gate(conn: AsyncConnection, now: datetime) -> None:
    """Serialise starts across tasks and replicas: a write to one row (a row lock on
    PostgreSQL, the write lock on SQLite) before counting what runs."""
    values = {"changed_at": now, "changed_by": "recovery"}
    await conn.execute(
        upsert(conn, switches)
        .values(name="recovery.admission", enabled=True, **values)
        .on_conflict_do_update(index_elements=["name"], set_=values)
    )
