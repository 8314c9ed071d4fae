"""The scheduled-work rows on both backends: due times, leases, takeover and idempotency."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from bounceback.api.clock import FakeClock
from bounceback.api.store.db import Database
from bounceback.api.store.tables import scheduled_work
from bounceback.api.work import queue
from bounceback.api.work.queue import WorkItem, WorkState

pytestmark = pytest.mark.anyio

LEASE = timedelta(seconds=30)
TICK = timedelta(microseconds=1)


async def add(
    db: Database,
    clock: FakeClock,
    key: str,
    *,
    due_in: timedelta = timedelta(0),
    kind: str = "remind",
    max_attempts: int = 5,
    payload: dict[str, Any] | None = None,
) -> bool:
    async with db.transaction() as conn:
        return await queue.schedule(
            conn,
            kind=kind,
            key=key,
            due_at=clock.now() + due_in,
            now=clock.now(),
            payload=payload,
            max_attempts=max_attempts,
        )


async def claim(
    db: Database,
    clock: FakeClock,
    owner: str,
    *,
    limit: int = 10,
    kinds: list[str] | None = None,
) -> list[WorkItem]:
    async with db.transaction() as conn:
        return await queue.claim(
            conn, owner=owner, now=clock.now(), lease=LEASE, limit=limit, kinds=kinds
        )


async def finish(
    db: Database, clock: FakeClock, item: WorkItem, state: WorkState, **kwargs: Any
) -> bool:
    async with db.transaction() as conn:
        return await queue.finish(conn, item, now=clock.now(), state=state, **kwargs)


async def row(db: Database, key: str) -> sa.Row[Any]:
    async with db.read() as conn:
        result = await conn.execute(sa.select(scheduled_work).where(scheduled_work.c.key == key))
        return result.one()


async def next_due(db: Database, kinds: list[str] | None = None) -> datetime | None:
    async with db.read() as conn:
        return await queue.next_due(conn, kinds)


async def counts(db: Database) -> dict[str, int]:
    async with db.read() as conn:
        return await queue.counts(conn)


async def test_scheduling_the_same_key_twice_keeps_the_first_row(
    db: Database, clock: FakeClock
) -> None:
    assert await add(db, clock, "remind:1", due_in=timedelta(minutes=15), payload={"n": 1})
    assert not await add(db, clock, "remind:1", due_in=timedelta(minutes=1), payload={"n": 2})

    kept = await row(db, "remind:1")
    assert kept.due_at == clock.now() + timedelta(minutes=15)
    assert kept.payload == {"n": 1}
    assert (await counts(db))["pending"] == 1


async def test_an_item_is_claimed_only_once_its_due_time_is_reached(
    db: Database, clock: FakeClock
) -> None:
    due = clock.now() + timedelta(minutes=15)
    await add(db, clock, "remind:1", due_in=timedelta(minutes=15), payload={"incident": 7})

    await clock.advance(timedelta(minutes=15) - TICK)
    assert await claim(db, clock, "hub-a") == []
    await clock.advance(TICK)
    [item] = await claim(db, clock, "hub-a")

    assert (item.key, item.kind, item.payload, item.due_at) == (
        "remind:1",
        "remind",
        {"incident": 7},
        due,
    )
    assert (item.attempts, item.lease_owner, item.lease_until) == (1, "hub-a", due + LEASE)


async def test_claim_takes_due_items_of_the_given_kinds_in_due_order_up_to_the_limit(
    db: Database, clock: FakeClock
) -> None:
    await add(db, clock, "late", due_in=timedelta(seconds=-1))
    await add(db, clock, "early", due_in=timedelta(seconds=-3))
    await add(db, clock, "middle", due_in=timedelta(seconds=-2))
    await add(db, clock, "other-kind", due_in=timedelta(seconds=-9), kind="deliver")

    first = await claim(db, clock, "hub-a", limit=2, kinds=["remind"])
    rest = await claim(db, clock, "hub-a", limit=10, kinds=["remind"])

    assert [item.key for item in first] == ["early", "middle"]
    assert [item.key for item in rest] == ["late"]
    assert (await row(db, "other-kind")).lease_owner is None


async def test_a_claimed_item_is_not_claimed_again_until_its_lease_expires(
    db: Database, clock: FakeClock
) -> None:
    await add(db, clock, "remind:1")
    [first] = await claim(db, clock, "hub-a")

    await clock.advance(LEASE - TICK)
    assert await claim(db, clock, "hub-b") == []
    await clock.advance(TICK)
    [taken_over] = await claim(db, clock, "hub-b")

    assert (taken_over.id, taken_over.attempts, taken_over.lease_owner) == (first.id, 2, "hub-b")


async def test_a_stale_owner_can_neither_finish_nor_renew_nor_hold_after_a_takeover(
    db: Database, clock: FakeClock
) -> None:
    await add(db, clock, "remind:1")
    [stale] = await claim(db, clock, "hub-a")
    await clock.advance(LEASE)
    [current] = await claim(db, clock, "hub-b")

    async with db.transaction() as conn:
        assert not await queue.holds_lease(conn, stale)
        assert not await queue.renew(conn, stale, clock.now() + LEASE)
        assert await queue.holds_lease(conn, current)
    assert not await finish(db, clock, stale, WorkState.FAILED, error="hub-a's late result")
    assert (await row(db, "remind:1")).lease_owner == "hub-b"

    assert await finish(db, clock, current, WorkState.DONE)
    assert not await finish(db, clock, stale, WorkState.FAILED, error="hub-a's late result")
    done = await row(db, "remind:1")
    assert (done.state, done.last_error, done.attempts) == ("done", None, 2)


async def test_an_attempt_that_outlived_its_lease_cannot_finish_even_for_the_same_owner(
    db: Database, clock: FakeClock
) -> None:
    await add(db, clock, "remind:1")
    [first] = await claim(db, clock, "hub-a")
    await clock.advance(LEASE)
    [second] = await claim(db, clock, "hub-a")

    assert not await finish(db, clock, first, WorkState.DONE)
    assert await finish(db, clock, second, WorkState.FAILED, error="second attempt's result")
    assert (await row(db, "remind:1")).last_error == "second attempt's result"


async def test_finishing_for_a_retry_makes_the_item_due_again_at_the_retry_time(
    db: Database, clock: FakeClock
) -> None:
    await add(db, clock, "remind:1")
    [item] = await claim(db, clock, "hub-a")
    retry_at = clock.now() + timedelta(minutes=2)

    assert await finish(db, clock, item, WorkState.PENDING, error="busy", retry_at=retry_at)
    waiting = await row(db, "remind:1")
    assert (waiting.state, waiting.due_at, waiting.last_error) == ("pending", retry_at, "busy")
    assert (waiting.lease_owner, waiting.lease_until) == (None, None)

    await clock.advance(timedelta(minutes=2) - TICK)
    assert await claim(db, clock, "hub-a") == []
    await clock.advance(TICK)
    [again] = await claim(db, clock, "hub-a")
    assert again.attempts == 2


async def test_an_owner_dying_on_the_last_attempt_leaves_the_item_failed(
    db: Database, clock: FakeClock
) -> None:
    await add(db, clock, "remind:1", max_attempts=1)
    await claim(db, clock, "hub-a")
    await clock.advance(LEASE)

    assert await claim(db, clock, "hub-b") == []
    failed = await row(db, "remind:1")
    assert (failed.state, failed.finished_at) == ("failed", clock.now())
    assert failed.last_error == "lease expired on every attempt"
    assert await next_due(db) is None


async def test_a_cancelled_item_is_never_claimed(db: Database, clock: FakeClock) -> None:
    await add(db, clock, "remind:1")
    async with db.transaction() as conn:
        assert await queue.cancel(conn, "remind:1", clock.now())
        assert not await queue.cancel(conn, "remind:1", clock.now())
        assert not await queue.cancel(conn, "no-such-key", clock.now())

    assert await claim(db, clock, "hub-a") == []
    assert (await counts(db))["cancelled"] == 1


async def test_cancelling_claimed_work_rejects_its_owners_result(
    db: Database, clock: FakeClock
) -> None:
    await add(db, clock, "remind:1")
    [item] = await claim(db, clock, "hub-a")
    async with db.transaction() as conn:
        assert await queue.cancel(conn, "remind:1", clock.now())

    assert not await finish(db, clock, item, WorkState.DONE)
    assert (await row(db, "remind:1")).state == "cancelled"


async def test_next_due_is_the_due_time_or_the_end_of_a_later_lease(
    db: Database, clock: FakeClock
) -> None:
    assert await next_due(db) is None
    await add(db, clock, "in-10s", due_in=timedelta(seconds=10))
    await add(db, clock, "in-1h", due_in=timedelta(hours=1), kind="deliver")

    earliest = await next_due(db)
    assert earliest == clock.now() + timedelta(seconds=10)
    assert earliest is not None and earliest.utcoffset() == timedelta(0)
    assert await next_due(db, ["deliver"]) == clock.now() + timedelta(hours=1)
    assert await next_due(db, ["unknown"]) is None
    assert await next_due(db, []) is None

    await clock.advance(timedelta(seconds=10))
    [item] = await claim(db, clock, "hub-a")
    assert await next_due(db) == item.lease_until

    assert await finish(db, clock, item, WorkState.DONE)
    assert await next_due(db) == clock.now() + timedelta(hours=1) - timedelta(seconds=10)


async def test_counts_reports_every_state(db: Database, clock: FakeClock) -> None:
    for key in ("a", "b", "c", "d"):
        await add(db, clock, key)
    [first, second, _] = await claim(db, clock, "hub-a", limit=3)
    await finish(db, clock, first, WorkState.DONE)
    await finish(db, clock, second, WorkState.FAILED, error="no route")
    async with db.transaction() as conn:
        await queue.cancel(conn, "d", clock.now())

    assert await counts(db) == {"pending": 1, "done": 1, "failed": 1, "cancelled": 1}
