"""Rows of the kinds retention prunes, aged relative to a given now, for the tests."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from bounceback.api.store.db import Database
from bounceback.api.store.tables import agent_events, agents, audit_log, scheduled_work


def days_ago(days: float, now: datetime) -> datetime:
    return now - timedelta(days=days)


async def add_agent(db: Database, now: datetime, agent_id: str = "web-1") -> None:
    async with db.transaction() as conn:
        await conn.execute(
            agents.insert().values(
                id=agent_id,
                hostname=agent_id,
                version="0.1.0",
                interval_seconds=60.0,
                self_healing_enabled=True,
                dry_run=False,
                actions=[],
                last_metrics={},
                last_checks={},
                first_seen=days_ago(60, now),
                last_seen=now,
                last_seq=0,
                reports=0,
                events_lost=0,
                silence_check=0,
            )
        )


async def add_events(
    db: Database, now: datetime, ages_in_days: Sequence[float], agent_id: str = "web-1"
) -> None:
    """One event per age, numbered (and so given ids) in the order given."""
    async with db.transaction() as conn:
        start = int(await conn.scalar(sa.select(sa.func.count()).select_from(agent_events)) or 0)
        rows = [
            {
                "agent_id": agent_id,
                "seq": start + i + 1,
                "kind": "sample",
                "at": days_ago(age, now),
                "received_at": days_ago(age, now),
                "data": {"memory_percent": 40.0},
            }
            for i, age in enumerate(ages_in_days)
        ]
        await conn.execute(agent_events.insert(), rows)


async def add_audit(
    db: Database, now: datetime, action: str, ages_in_days: Sequence[float]
) -> None:
    async with db.transaction() as conn:
        await conn.execute(
            audit_log.insert(),
            [
                {
                    "at": days_ago(age, now),
                    "actor": "someone",
                    "action": action,
                    "target": "-",
                    "outcome": "ok",
                    "request_id": "r",
                    "details": {},
                }
                for age in ages_in_days
            ],
        )


async def add_work(
    db: Database, now: datetime, key: str, state: str, due_days_ago: float, **extra: Any
) -> None:
    async with db.transaction() as conn:
        await conn.execute(
            scheduled_work.insert().values(
                kind="test",
                key=key,
                payload={},
                state=state,
                due_at=days_ago(due_days_ago, now),
                attempts=1,
                max_attempts=5,
                created_at=days_ago(due_days_ago, now),
                **extra,
            )
        )
