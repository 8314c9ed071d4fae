"""The pruning itself: delete what retention lets go, oldest first, in small transactions.

Agent events and audit records are read in id order (the primary key, or the audit log's
(action, id) index), so a pass costs what it deletes plus one batch, never a scan of the table;
each batch is deleted as an id range with the time condition, in its own short transaction, so
writers wait for one batch at most. Finished scheduled work is found through its (state, due_at)
index. Pending work is never touched.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from bounceback.api.retention.policy import Cutoffs, expired_prefix
from bounceback.api.store.db import Database
from bounceback.api.store.tables import agent_events, audit_log, scheduled_work
from bounceback.api.work.queue import WorkState

BATCH = 2000
# The audit records written for each agent report: kept as long as the events they carried.
REPORT_AUDIT_ACTION = "agent.report"
FINISHED = (WorkState.DONE.value, WorkState.FAILED.value, WorkState.CANCELLED.value)


@dataclass(frozen=True)
class Target:
    """One kind of record: its table, its time column and the rows of it this rule covers."""

    name: str
    table: sa.Table
    at: sa.Column[datetime]
    where: sa.ColumnElement[bool] | None

    def scope(self) -> sa.ColumnElement[bool]:
        return self.where if self.where is not None else sa.true()


AGENT_EVENTS = Target("agent_events", agent_events, agent_events.c.received_at, None)
REPORT_AUDIT = Target(
    "audit_log.agent_reports", audit_log, audit_log.c.at, audit_log.c.action == REPORT_AUDIT_ACTION
)
OTHER_AUDIT = Target(
    "audit_log", audit_log, audit_log.c.at, audit_log.c.action != REPORT_AUDIT_ACTION
)
_finished_work = scheduled_work.c.state.in_(FINISHED)


def plan(cutoffs: Cutoffs) -> list[tuple[Target, datetime]]:
    """The id-ordered kinds to prune and the cut-off of each; finished work is apart."""
    steps: list[tuple[Target, datetime]] = []
    if cutoffs.agent_events is not None:
        steps += [(AGENT_EVENTS, cutoffs.agent_events), (REPORT_AUDIT, cutoffs.agent_events)]
    if cutoffs.audit is not None:
        steps.append((OTHER_AUDIT, cutoffs.audit))
    return steps


async def prune(
    db: Database,
    cutoffs: Cutoffs,
    *,
    batch: int = BATCH,
    keep_going: Callable[[], bool] = lambda: True,
) -> dict[str, int]:
    """Delete what is past its cut-off; rows deleted per kind. ``keep_going`` is asked between
    batches (a time budget): whatever is left waits for the next pass."""
    deleted: dict[str, int] = {}
    for target, cutoff in plan(cutoffs):
        deleted[target.name] = await _oldest_first(db, target, cutoff, batch, keep_going)
    if cutoffs.work is not None:
        deleted["scheduled_work"] = await _finished_work_before(db, cutoffs.work, batch, keep_going)
    return deleted


async def count(db: Database, cutoffs: Cutoffs) -> dict[str, int]:
    """What a pass would delete now (a dry run: counts by a scan, nothing deleted)."""
    counts: dict[str, int] = {}
    async with db.read() as conn:
        for target, cutoff in plan(cutoffs):
            query = sa.select(sa.func.count()).where(target.scope(), target.at < cutoff)
            counts[target.name] = int((await conn.execute(query)).scalar_one())
        if cutoffs.work is not None:
            query = sa.select(sa.func.count()).where(_old_finished_work(cutoffs.work))
            counts["scheduled_work"] = int((await conn.execute(query)).scalar_one())
    return counts


async def _oldest_first(
    db: Database, target: Target, cutoff: datetime, batch: int, keep_going: Callable[[], bool]
) -> int:
    table, at = target.table, target.at

    async def one_batch() -> tuple[int, bool]:
        async with db.transaction() as conn:
            oldest = (
                sa.select(table.c.id, at).where(target.scope()).order_by(table.c.id).limit(batch)
            )
            rows = [(int(r[0]), r[1]) for r in (await conn.execute(oldest)).all()]
            found = expired_prefix(rows, cutoff, batch)
            if found.last_id is None:
                return 0, False
            delete = sa.delete(table).where(
                target.scope(), table.c.id <= found.last_id, at < cutoff
            )
            result = await conn.execute(delete)
            return int(result.rowcount), found.more

    return await _repeat(one_batch, keep_going)


def _old_finished_work(cutoff: datetime) -> sa.ColumnElement[bool]:
    # due_at first: the (state, due_at) index finds the candidates; finished_at, when set, is
    # the time that counts (work can finish long after it fell due).
    return sa.and_(
        _finished_work,
        scheduled_work.c.due_at < cutoff,
        sa.or_(scheduled_work.c.finished_at.is_(None), scheduled_work.c.finished_at < cutoff),
    )


async def _finished_work_before(
    db: Database, cutoff: datetime, batch: int, keep_going: Callable[[], bool]
) -> int:
    async def one_batch() -> tuple[int, bool]:
        async with db.transaction() as conn:
            ids = sa.select(scheduled_work.c.id).where(_old_finished_work(cutoff)).limit(batch)
            result = await conn.execute(
                sa.delete(scheduled_work).where(scheduled_work.c.id.in_(ids.scalar_subquery()))
            )
            return int(result.rowcount), int(result.rowcount) == batch

    return await _repeat(one_batch, keep_going)


async def _repeat(
    one_batch: Callable[[], Awaitable[tuple[int, bool]]], keep_going: Callable[[], bool]
) -> int:
    total = 0
    while True:
        deleted, more = await one_batch()
        total += deleted
        if not more or not keep_going():
            return total
