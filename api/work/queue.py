"""Scheduled work in the store: rows with a due time, claimed under a lease.

A row is ``pending`` until a hub process claims it: the claim sets ``lease_owner`` and
``lease_until`` and counts an attempt. The owner finishes the row (``done`` / ``failed`` / back to
``pending`` for a retry) only while it still holds the lease, checked by owner *and* attempt
number, so a process that stalled past its lease cannot overwrite the work of the one that took
over. On PostgreSQL the claim uses ``FOR UPDATE SKIP LOCKED``; SQLite has a single writer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from bounceback.api.store.tables import UtcDateTime
from bounceback.api.store.tables import scheduled_work as work


class WorkState(StrEnum):
    PENDING = "pending"  # waiting for its due time, or claimed and running under a lease
    DONE = "done"
    FAILED = "failed"  # out of attempts, or the handler said it cannot succeed
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class WorkItem:
    id: int
    kind: str
    key: str
    payload: dict[str, Any]
    due_at: datetime
    attempts: int  # including the current one
    max_attempts: int
    lease_owner: str
    lease_until: datetime


async def schedule(
    conn: AsyncConnection,
    *,
    kind: str,
    key: str,
    due_at: datetime,
    now: datetime,
    payload: dict[str, Any] | None = None,
    max_attempts: int = 5,
) -> bool:
    """Add a row; False when a row with this key already exists (scheduling is idempotent)."""
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    statement = (
        insert(work)
        .values(
            kind=kind,
            key=key,
            payload=payload or {},
            state=WorkState.PENDING.value,
            due_at=due_at,
            attempts=0,
            max_attempts=max_attempts,
            created_at=now,
        )
        .on_conflict_do_nothing(index_elements=["key"])
    )
    result = await conn.execute(statement)
    return bool(result.rowcount)


async def cancel(conn: AsyncConnection, key: str, now: datetime) -> bool:
    """Cancel pending work (a running owner's later finish is then rejected)."""
    result = await conn.execute(
        work.update()
        .where(work.c.key == key, work.c.state == WorkState.PENDING.value)
        .values(
            state=WorkState.CANCELLED.value, finished_at=now, lease_owner=None, lease_until=None
        )
    )
    return bool(result.rowcount)


async def bring_forward(conn: AsyncConnection, key: str, due_at: datetime) -> bool:
    """Make pending work that no live lease holds due at ``due_at`` (an operator's "now");
    False when there is no such row (finished, cancelled, or running at this moment)."""
    result = await conn.execute(
        work.update()
        .where(
            work.c.key == key,
            work.c.state == WorkState.PENDING.value,
            sa.or_(work.c.lease_until.is_(None), work.c.lease_until <= due_at),
        )
        .values(due_at=due_at)
    )
    return bool(result.rowcount)


def _of_kinds(kinds: list[str] | None) -> sa.ColumnElement[bool]:
    return sa.true() if kinds is None else work.c.kind.in_(kinds)


def _claimable(now: datetime, kinds: list[str] | None) -> sa.ColumnElement[bool]:
    return sa.and_(
        work.c.state == WorkState.PENDING.value,
        work.c.due_at <= now,
        sa.or_(work.c.lease_until.is_(None), work.c.lease_until <= now),
        _of_kinds(kinds),
    )


def _lockable_ids(where: sa.ColumnElement[bool], limit: int | None = None) -> sa.ScalarSelect[int]:
    """Ids of matching rows that no other claimer holds (PostgreSQL skips locked rows)."""
    ids = sa.select(work.c.id).where(where).order_by(work.c.due_at, work.c.id)
    if limit is not None:
        ids = ids.limit(limit)
    return ids.with_for_update(skip_locked=True).scalar_subquery()


async def claim(
    conn: AsyncConnection,
    *,
    owner: str,
    now: datetime,
    lease: timedelta,
    limit: int,
    kinds: list[str] | None = None,
) -> list[WorkItem]:
    """Take up to ``limit`` due rows for ``owner``; rows out of attempts are failed instead.

    A row is out of attempts when its last owner's lease expired on the final attempt (the owner
    died). ``kinds`` restricts both steps to the kinds this process handles.
    """
    exhausted = sa.and_(_claimable(now, kinds), work.c.attempts >= work.c.max_attempts)
    await conn.execute(
        work.update()
        .where(work.c.id.in_(_lockable_ids(exhausted)))
        .values(
            state=WorkState.FAILED.value,
            finished_at=now,
            lease_owner=None,
            lease_until=None,
            last_error=sa.func.coalesce(work.c.last_error, "lease expired on every attempt"),
        )
    )
    if limit <= 0:
        return []
    ids = _lockable_ids(_claimable(now, kinds), limit)
    lease_until = now + lease
    claimed = await conn.execute(
        work.update()
        .where(work.c.id.in_(ids))
        .values(lease_owner=owner, lease_until=lease_until, attempts=work.c.attempts + 1)
        .returning(
            work.c.id,
            work.c.kind,
            work.c.key,
            work.c.payload,
            work.c.due_at,
            work.c.attempts,
            work.c.max_attempts,
        )
    )
    items = [
        WorkItem(
            row.id,
            row.kind,
            row.key,
            row.payload,
            row.due_at,
            row.attempts,
            row.max_attempts,
            owner,
            lease_until,
        )
        for row in claimed
    ]
    return sorted(items, key=lambda item: (item.due_at, item.id))


def _held(item: WorkItem) -> sa.ColumnElement[bool]:
    return sa.and_(
        work.c.id == item.id,
        work.c.state == WorkState.PENDING.value,
        work.c.lease_owner == item.lease_owner,
        work.c.attempts == item.attempts,
    )


async def holds_lease(conn: AsyncConnection, item: WorkItem) -> bool:
    """Lock the row and check the lease is still ours (inside the finishing transaction)."""
    row = await conn.scalar(sa.select(work.c.id).where(_held(item)).with_for_update())
    return row is not None


async def renew(conn: AsyncConnection, item: WorkItem, until: datetime) -> bool:
    result = await conn.execute(work.update().where(_held(item)).values(lease_until=until))
    return bool(result.rowcount)


async def finish(
    conn: AsyncConnection,
    item: WorkItem,
    *,
    now: datetime,
    state: WorkState,
    error: str | None = None,
    retry_at: datetime | None = None,
) -> bool:
    """Record the outcome; False when the lease was lost (another process owns the row now)."""
    values: dict[str, Any] = {"lease_owner": None, "lease_until": None, "last_error": error}
    if state == WorkState.PENDING:
        values["due_at"] = retry_at or now
    else:
        values.update(state=state.value, finished_at=now)
    result = await conn.execute(work.update().where(_held(item)).values(values))
    return bool(result.rowcount)


async def next_due(conn: AsyncConnection, kinds: list[str] | None = None) -> datetime | None:
    """The earliest time at which a pending row (of ``kinds``) becomes claimable.

    That is its due time, or the end of its current lease when that is later. The result is
    coerced to the column type so both backends return an aware UTC datetime (SQLite does not
    carry the type through an aggregate of a CASE by itself).
    """
    claimable_at = sa.case(
        (
            sa.and_(work.c.lease_until.is_not(None), work.c.lease_until > work.c.due_at),
            work.c.lease_until,
        ),
        else_=work.c.due_at,
    )
    earliest = sa.type_coerce(sa.func.min(claimable_at), UtcDateTime())
    query = sa.select(earliest).where(work.c.state == WorkState.PENDING.value, _of_kinds(kinds))
    value: datetime | None = await conn.scalar(query)
    return value


async def counts(conn: AsyncConnection) -> dict[str, int]:
    rows = await conn.execute(sa.select(work.c.state, sa.func.count()).group_by(work.c.state))
    result = {state.value: 0 for state in WorkState}
    result.update({state: count for state, count in rows})
    return result
