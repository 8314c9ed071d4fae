"""Pruning on both stores: what is past retention goes, oldest first; nothing else is touched."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from bounceback.api.retention import prune
from bounceback.api.retention.policy import Cutoffs, RetentionPolicy, cutoffs
from bounceback.api.store.db import Database
from bounceback.api.store.tables import agent_events, audit_log, scheduled_work
from tests.api.retention.rows import add_agent, add_audit, add_events, add_work, days_ago

pytestmark = pytest.mark.anyio

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
LIMITS = cutoffs(RetentionPolicy(agent_events_days=14, audit_days=365, work_days=7), NOW)


async def ages(db: Database, column: sa.Column[datetime]) -> list[float]:
    async with db.read() as conn:
        rows = (await conn.execute(sa.select(column).order_by(column))).scalars().all()
    return sorted(round((NOW - at) / timedelta(days=1), 1) for at in rows)


async def work_keys(db: Database) -> set[str]:
    async with db.read() as conn:
        return set((await conn.execute(sa.select(scheduled_work.c.key))).scalars())


async def test_agent_events_older_than_their_retention_are_deleted_and_newer_ones_kept(
    db: Database,
) -> None:
    await add_agent(db, NOW)
    await add_events(db, NOW, [30, 20, 15, 13, 1, 0.1])
    deleted = await prune.prune(db, LIMITS, batch=2)
    assert deleted["agent_events"] == 3
    assert await ages(db, agent_events.c.received_at) == [0.1, 1, 13]


async def test_audit_records_of_agent_reports_go_with_the_agent_events_and_the_rest_stay_a_year(
    db: Database,
) -> None:
    for age in (400, 30, 1):  # written in time order, as the hub writes them
        await add_audit(db, NOW, "agent.report", [age])
        await add_audit(db, NOW, "token.create", [age])
    deleted = await prune.prune(db, LIMITS)
    assert deleted["audit_log.agent_reports"] == 2
    assert deleted["audit_log"] == 1
    async with db.read() as conn:
        left = (
            await conn.execute(
                sa.select(audit_log.c.action, audit_log.c.at).order_by(audit_log.c.id)
            )
        ).all()
    assert sorted((action, round((NOW - at).days)) for action, at in left) == [
        ("agent.report", 1),
        ("token.create", 1),
        ("token.create", 30),
    ]


async def test_with_agent_events_kept_for_ever_report_audit_records_go_after_the_audit_retention(
    db: Database,
) -> None:
    await add_audit(db, NOW, "agent.report", [400, 30])
    limits = Cutoffs(agent_events=None, audit=LIMITS.audit, work=None)
    assert await prune.count(db, limits) == {"audit_log": 1}
    assert await prune.prune(db, limits) == {"audit_log": 1}
    assert await ages(db, audit_log.c.at) == [30]


async def test_a_dry_run_counts_a_record_that_two_rules_let_go_once(db: Database) -> None:
    await add_audit(db, NOW, "agent.report", [400])
    limits = Cutoffs(agent_events=LIMITS.agent_events, audit=LIMITS.audit, work=None)
    expected = {"agent_events": 0, "audit_log.agent_reports": 1, "audit_log": 0}
    assert await prune.count(db, limits) == expected
    assert await prune.prune(db, limits) == expected


async def test_finished_work_goes_after_its_retention_and_pending_work_never(db: Database) -> None:
    await add_work(db, NOW, "done-old", "done", 10, finished_at=days_ago(10, NOW))
    await add_work(db, NOW, "failed-old", "failed", 9, finished_at=days_ago(9, NOW))
    await add_work(db, NOW, "cancelled-old", "cancelled", 8)
    await add_work(db, NOW, "done-recent", "done", 2, finished_at=days_ago(2, NOW))
    # fell due long ago but finished yesterday (a long escalation): still recent
    await add_work(db, NOW, "done-late", "done", 30, finished_at=days_ago(1, NOW))
    await add_work(db, NOW, "pending-old", "pending", 30)
    deleted = await prune.prune(db, LIMITS, batch=2)
    assert deleted["scheduled_work"] == 3
    assert await work_keys(db) == {"done-recent", "done-late", "pending-old"}


async def test_a_kind_kept_for_ever_is_not_touched(db: Database) -> None:
    await add_agent(db, NOW)
    await add_events(db, NOW, [300, 1])
    await add_audit(db, NOW, "agent.report", [300])
    await add_work(db, NOW, "done-old", "done", 300, finished_at=days_ago(300, NOW))
    keep_all = Cutoffs(agent_events=None, audit=None, work=None)
    assert await prune.prune(db, keep_all) == {}
    assert await ages(db, agent_events.c.received_at) == [1, 300]
    assert await work_keys(db) == {"done-old"}


async def test_a_dry_run_counts_what_a_pass_would_delete_and_deletes_nothing(db: Database) -> None:
    await add_agent(db, NOW)
    await add_events(db, NOW, [30, 20, 1])
    await add_audit(db, NOW, "agent.report", [30])
    await add_audit(db, NOW, "incident.acknowledge", [400, 1])
    await add_work(db, NOW, "done-old", "done", 10, finished_at=days_ago(10, NOW))
    expected = {
        "agent_events": 2,
        "audit_log.agent_reports": 1,
        "audit_log": 1,
        "scheduled_work": 1,
    }
    assert await prune.count(db, LIMITS) == expected
    assert await ages(db, agent_events.c.received_at) == [1, 20, 30]
    assert await prune.prune(db, LIMITS) == expected
    assert await prune.count(db, LIMITS) == dict.fromkeys(expected, 0)


async def test_a_second_pass_finds_nothing_more_to_delete(db: Database) -> None:
    await add_agent(db, NOW)
    await add_events(db, NOW, [30] * 5 + [1] * 3)
    assert (await prune.prune(db, LIMITS, batch=2))["agent_events"] == 5
    assert (await prune.prune(db, LIMITS, batch=2))["agent_events"] == 0
    assert await ages(db, agent_events.c.received_at) == [1, 1, 1]


async def test_a_pass_stops_between_batches_when_its_time_is_up(db: Database) -> None:
    await add_agent(db, NOW)
    await add_events(db, NOW, [30] * 6)
    answers = iter([True, False])
    deleted = await prune.prune(
        db, Cutoffs(LIMITS.agent_events, None, None), batch=2, keep_going=lambda: next(answers)
    )
    assert deleted["agent_events"] == 4  # two batches; the rest waits for the next pass
    assert len(await ages(db, agent_events.c.received_at)) == 2
