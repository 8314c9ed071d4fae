"""The pruning itself: delete what retention lets go, oldest first, in small transactions.

Agent events and audit records are read in id order (the primary key; for the agent reports'
audit records, the audit log's (action, id) index), so a pass costs what it deletes plus one
batch, never a scan of the table; each batch is deleted as an id range with the time condition,
in its own short transaction, so writers wait for one batch at most. Finished scheduled work is
found through its (state, due_at) index. Pending work is never touched.
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
class Step:
    """One kind of record to prune: the rows it reads oldest first, and their cut-off."""

    name: str
    table: sa.Table
    at: sa.Column[datetime]
    scope: sa.ColumnElement[bool]  # the rows this step reads, in id order
    cutoff: datetime
    # rows past this step's cut-off that an earlier step of the same pass deletes (a dry run
    # must not count them twice)
    taken_before: sa.ColumnElement[bool] | None = None


def plan(cutoffs: Cutoffs) -> list[Step]:
    """The id-ordered kinds to prune, in order; finished work is apart.

    Every audit record goes after the audit retention; those of agent reports (nearly all of
    them) go earlier, with the agent events, when that retention is shorter. The audit log is read
    in id order without a filter: what a filter skipped would be read again at every pass."""
    steps: list[Step] = []
    reports = audit_log.c.action == REPORT_AUDIT_ACTION
    events = cutoffs.agent_events
    if events is not None:
        steps.append(
            Step("agent_events", agent_events, agent_events.c.received_at, sa.true(), events)
        )
        steps.append(Step("audit_log.agent_reports", audit_log, audit_log.c.at, reports, events))
    if cutoffs.audit is not None:
        taken = sa.and_(reports, audit_log.c.at < events) if events is not None else None
        steps.append(Step("audit_log", audit_log, audit_log.c.at, sa.true(), cutoffs.audit, taken))
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
    for step in plan(cutoffs):
        deleted[step.name] = await _oldest_first(db, step, batch, keep_going)
    if cutoffs.work is not None:
        deleted["scheduled_work"] = await _finished_work_before(db, cutoffs.work, batch, keep_going)
    return deleted


async def count(db: Database, cutoffs: Cutoffs) -> dict[str, int]:
    """What a pass would delete now (a dry run: counts by a scan, nothing deleted)."""
    counts: dict[str, int] = {}
    async with db.read() as conn:
        for step in plan(cutoffs):
            query = sa.select(sa.func.count()).where(step.scope, step.at < step.cutoff)
            if step.taken_before is not None:
                query = query.where(sa.not_(step.taken_before))
            counts[step.name] = int((await conn.execute(query)).scalar_one())
        if cutoffs.work is not None:
            query = sa.select(sa.func.count()).where(_old_finished_work(cutoffs.work))
            counts["scheduled_work"] = int((await conn.execute(query)).scalar_one())
    return counts


async def _oldest_first(
    db: Database, step: Step, batch: int, keep_going: Callable[[], bool]
) -> int:
    table, at, cutoff = step.table, step.at, step.cutoff

    async def one_batch() -> tuple[int, bool]:
        async with db.transaction() as conn:
            oldest = sa.select(table.c.id, at).where(step.scope).order_by(table.c.id).limit(batch)
            rows = [(int(r[0]), r[1]) for r in (await conn.execute(oldest)).all()]
            found = expired_prefix(rows, cutoff, batch)
            if found.last_id is None:
                return 0, False
            delete = sa.delete(table).where(step.scope, table.c.id <= found.last_id, at < cutoff)
            result = await conn.execute(delete)
            return int(result.rowcount), found.more

    return await _repeat(one_batch, keep_going)


def _old_finished_work(cutoff: datetime) -> sa.ColumnElement[bool]:
    # due_at first: the (state, due_at) index finds the candidates; finished_at, when set, is
    # the time that counts (work can finish long after it fell due).
    return sa.and_(
        scheduled_work.c.state.in_(FINISHED),
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
