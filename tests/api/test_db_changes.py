"""What a committed transaction changed reaches ``Database.on_commit`` (the hub's "changes"
signal); a rolled-back or cancelled one says nothing, and a cancellation stays a cancellation."""

from __future__ import annotations

import asyncio

import pytest
import sqlalchemy as sa

from bounceback.api.store.db import Database, mark_changed

pytestmark = pytest.mark.anyio


async def test_the_topics_a_transaction_marked_are_heard_once_it_commits(db: Database) -> None:
    heard: list[set[str]] = []
    db.on_commit = heard.append
    async with db.transaction() as conn:
        mark_changed(conn, "incident")
        mark_changed(conn, "agent")
        assert heard == []  # not before the commit
    assert heard == [{"incident", "agent"}]
    async with db.transaction() as conn:
        await conn.execute(sa.text("SELECT 1"))
    assert heard == [{"incident", "agent"}]  # nothing marked, nothing said
    db.on_commit = None


async def test_a_rolled_back_transaction_says_nothing_and_leaves_no_mark(db: Database) -> None:
    heard: list[set[str]] = []
    db.on_commit = heard.append
    with pytest.raises(RuntimeError):
        async with db.transaction() as conn:
            mark_changed(conn, "incident")
            raise RuntimeError("refused")
    async with db.transaction() as conn:
        mark_changed(conn, "agent")
    assert heard == [{"agent"}]
    db.on_commit = None


async def test_a_transaction_cancelled_in_a_statement_raises_cancelled(
    db: Database, backend: str
) -> None:
    slow = "SELECT pg_sleep(5)" if backend == "postgres" else "SELECT 1"

    async def work() -> None:
        async with db.transaction() as conn:
            mark_changed(conn, "incident")
            await conn.execute(sa.text(slow))
            await asyncio.sleep(5)

    task = asyncio.create_task(work())
    await asyncio.sleep(0.2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
