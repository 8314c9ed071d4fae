"""The scheduler on both backends: on time, once, retried, and taken over when its owner dies.

Time is a FakeClock; waits on events carry a generous guard that only fires when a test fails.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import textwrap
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from bounceback.api.clock import FakeClock
from bounceback.api.settings import HubSettings
from bounceback.api.store.db import Database
from bounceback.api.store.tables import scheduled_work
from bounceback.api.work import queue
from bounceback.api.work.policy import decide, next_wake
from bounceback.api.work.queue import WorkItem, WorkState
from bounceback.api.work.scheduler import Fail, Outcome, Retry, Scheduler, backoff

pytestmark = pytest.mark.anyio

GUARD_S = 20  # only reached when a test is failing
LEASE = timedelta(seconds=30)
TICK = timedelta(microseconds=1)


class Runs:
    """A handler that records its calls, answers with scripted outcomes and can be held."""

    def __init__(self, clock: FakeClock, outcomes: list[Outcome | Exception] | None = None):
        self.clock = clock
        self.items: list[WorkItem] = []
        self.times: list[datetime] = []
        self.outcomes = list(outcomes or [])
        self.release = asyncio.Event()
        self.release.set()
        self.running = 0
        self.peak = 0
        self._changed = asyncio.Condition()

    async def __call__(self, item: WorkItem) -> Outcome:
        async with self._changed:
            self.items.append(item)
            self.times.append(self.clock.now())
            self.running += 1
            self.peak = max(self.peak, self.running)
            self._changed.notify_all()
        try:
            await self.release.wait()
        finally:
            self.running -= 1
        outcome = self.outcomes.pop(0) if self.outcomes else None
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    async def reached(self, calls: int) -> None:
        async with asyncio.timeout(GUARD_S), self._changed:
            await self._changed.wait_for(lambda: len(self.items) >= calls)


class WatchedClock(FakeClock):
    """A FakeClock that shows until when its sleepers sleep (the loop's timer, lease renewers)."""

    def __init__(self) -> None:
        super().__init__()
        self.sleeping: Counter[datetime] = Counter()
        self._changed = asyncio.Event()

    def _touch(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def sleep_until(self, when: datetime, wake: asyncio.Event | None = None) -> None:
        self.sleeping[when] += 1
        self._touch()
        try:
            await super().sleep_until(when, wake)
        finally:
            self.sleeping[when] -= 1
            self._touch()

    async def _until(self, done: Callable[[], bool]) -> None:
        async with asyncio.timeout(GUARD_S):
            while not done():
                await self._changed.wait()

    async def sleeper_until(self, when: datetime) -> None:
        """Wait until something sleeps until exactly ``when``."""
        await self._until(lambda: self.sleeping[when] > 0)

    async def no_sleeper_until(self, when: datetime) -> None:
        await self._until(lambda: self.sleeping[when] == 0)


class StallingDatabase(Database):
    """A second handle on the same store whose transactions can be held: a stalled process."""

    def __init__(self, url: str, *, schema: str | None) -> None:
        super().__init__(url, schema=schema)
        self.resume = asyncio.Event()
        self.resume.set()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        await self.resume.wait()
        async with super().transaction() as conn:
            yield conn


effects_metadata = sa.MetaData()
effects = sa.Table(
    "test_work_effects",
    effects_metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("key", sa.String(300), nullable=False),
    sa.Column("owner", sa.String(100), nullable=False),
)


def second_handle(settings: HubSettings) -> Database:
    return Database(settings.sqlalchemy_url, schema=settings.bounceback_database_schema)


async def row(db: Database, key: str) -> sa.Row[Any]:
    async with db.read() as conn:
        result = await conn.execute(sa.select(scheduled_work).where(scheduled_work.c.key == key))
        return result.one()


async def counts(db: Database) -> dict[str, int]:
    async with db.read() as conn:
        return await queue.counts(conn)


async def effect_owners(db: Database) -> list[str]:
    async with db.read() as conn:
        return list((await conn.scalars(sa.select(effects.c.owner))).all())


async def eventually(check: Callable[[], Awaitable[bool]], *, what: str) -> None:
    """Re-check a condition on the store until it holds (each check waits for the store)."""
    try:
        async with asyncio.timeout(GUARD_S):
            while not await check():
                pass
    except TimeoutError:
        pytest.fail(f"never happened: {what}")


# -- on time, once ------------------------------------------------------------------------------


async def test_an_item_due_in_15_minutes_runs_once_when_the_clock_reaches_it(
    db: Database,
) -> None:
    clock = WatchedClock()
    poll = timedelta(hours=1)  # only the timer set for the due time can run it at 15 minutes
    scheduler = Scheduler(db, clock, owner="hub-a", poll=poll)
    remind = Runs(clock)
    scheduler.register("remind", remind)
    due = clock.now() + timedelta(minutes=15)
    await scheduler.schedule("remind", "remind:1", due)
    scheduler.start()

    await clock.sleeper_until(due)  # the loop sleeps until the due time, not until a poll
    await clock.advance(timedelta(minutes=15) - TICK)
    assert clock.sleeping[due] == 1
    assert remind.items == []

    await clock.advance(TICK)
    await remind.reached(1)
    await scheduler.drain()
    assert remind.times == [due]
    assert (await row(db, "remind:1")).state == "done"

    await clock.advance(timedelta(hours=2))  # leases and polls go by
    await clock.sleeper_until(clock.now() + poll)  # the loop looked again and went back to sleep
    await scheduler.stop()
    assert len(remind.items) == 1
    assert scheduler.completed == 1
    assert not scheduler.alive


async def test_work_scheduled_while_the_loop_sleeps_wakes_it_for_its_due_time(
    db: Database,
) -> None:
    clock = WatchedClock()
    poll = timedelta(hours=1)
    scheduler = Scheduler(db, clock, poll=poll)
    runs = Runs(clock)
    scheduler.register("remind", runs)
    scheduler.start()
    await clock.sleeper_until(clock.now() + poll)  # nothing to do: asleep until the poll

    near = clock.now() + timedelta(minutes=5)
    await scheduler.schedule("remind", "far", clock.now() + timedelta(minutes=50))
    await scheduler.schedule("remind", "near", near)
    await clock.sleeper_until(near)
    await clock.advance(timedelta(minutes=5))
    await runs.reached(1)
    await scheduler.stop()
    assert [item.key for item in runs.items] == ["near"]
    assert runs.times == [near]


async def test_scheduling_the_same_key_twice_runs_it_once(db: Database, clock: FakeClock) -> None:
    scheduler = Scheduler(db, clock)
    runs = Runs(clock)
    scheduler.register("remind", runs)
    assert await scheduler.schedule("remind", "remind:1", clock.now(), {"n": 1})
    assert not await scheduler.schedule("remind", "remind:1", clock.now(), {"n": 2})

    assert await scheduler.run_once() == 1
    await scheduler.drain()
    assert await scheduler.run_once() == 0
    assert [item.payload for item in runs.items] == [{"n": 1}]


async def test_cancelled_work_does_not_run(db: Database, clock: FakeClock) -> None:
    scheduler = Scheduler(db, clock)
    runs = Runs(clock)
    scheduler.register("remind", runs)
    await scheduler.schedule("remind", "remind:1", clock.now() + timedelta(minutes=1))
    async with db.transaction() as conn:
        assert await queue.cancel(conn, "remind:1", clock.now())

    await clock.advance(timedelta(minutes=2))
    assert await scheduler.run_once() == 0
    assert runs.items == []


# -- outcomes -----------------------------------------------------------------------------------


async def test_a_handler_returning_retry_runs_again_after_the_backoff(
    db: Database, clock: FakeClock
) -> None:
    scheduler = Scheduler(db, clock)
    runs = Runs(clock, [Retry("partner busy")])
    scheduler.register("deliver", runs)
    await scheduler.schedule("deliver", "deliver:1", clock.now())

    assert await scheduler.run_once() == 1
    await scheduler.drain()
    waiting = await row(db, "deliver:1")
    assert (waiting.state, waiting.attempts, waiting.last_error) == ("pending", 1, "partner busy")
    assert waiting.due_at == clock.now() + backoff(1)

    await clock.advance(backoff(1) - TICK)
    assert await scheduler.run_once() == 0
    await clock.advance(TICK)
    assert await scheduler.run_once() == 1
    await scheduler.drain()
    done = await row(db, "deliver:1")
    assert (done.state, done.attempts, done.last_error) == ("done", 2, None)
    assert [item.attempts for item in runs.items] == [1, 2]
    assert scheduler.completed == 1


async def test_a_handler_can_ask_to_be_retried_at_a_given_time(
    db: Database, clock: FakeClock
) -> None:
    scheduler = Scheduler(db, clock)
    at = clock.now() + timedelta(hours=3)
    scheduler.register("watch", Runs(clock, [Retry("deployment still rolling", at=at)]))
    await scheduler.schedule("watch", "watch:1", clock.now())
    await scheduler.run_once()
    await scheduler.drain()

    assert (await row(db, "watch:1")).due_at == at


async def test_a_handler_returning_fail_marks_the_item_failed(
    db: Database, clock: FakeClock
) -> None:
    scheduler = Scheduler(db, clock)
    runs = Runs(clock, [Fail("no such channel")])
    scheduler.register("deliver", runs)
    await scheduler.schedule("deliver", "deliver:1", clock.now())

    await scheduler.run_once()
    await scheduler.drain()
    await clock.advance(timedelta(hours=1))
    assert await scheduler.run_once() == 0

    failed = await row(db, "deliver:1")
    assert (failed.state, failed.last_error, failed.attempts) == ("failed", "no such channel", 1)
    assert len(runs.items) == 1
    assert scheduler.completed == 0


async def test_an_item_that_exhausts_its_attempts_is_marked_failed(
    db: Database, clock: FakeClock
) -> None:
    scheduler = Scheduler(db, clock)
    runs = Runs(clock, [Retry("busy 1"), Retry("busy 2"), Retry("busy 3")])
    scheduler.register("deliver", runs)
    await scheduler.schedule("deliver", "deliver:1", clock.now(), max_attempts=2)

    for _ in range(4):
        await scheduler.run_once()
        await scheduler.drain()
        await clock.advance(timedelta(hours=1))

    failed = await row(db, "deliver:1")
    assert (failed.state, failed.last_error, failed.attempts) == ("failed", "busy 2", 2)
    assert len(runs.items) == 2


async def test_a_raising_handler_is_retried(db: Database, clock: FakeClock) -> None:
    scheduler = Scheduler(db, clock)
    runs = Runs(clock, [RuntimeError("connection reset")])
    scheduler.register("deliver", runs)
    await scheduler.schedule("deliver", "deliver:1", clock.now())

    await scheduler.run_once()
    await scheduler.drain()
    waiting = await row(db, "deliver:1")
    assert (waiting.state, waiting.last_error) == ("pending", "RuntimeError: connection reset")

    await clock.advance(backoff(1))
    await scheduler.run_once()
    await scheduler.drain()
    assert (await row(db, "deliver:1")).state == "done"
    assert len(runs.items) == 2


def test_backoff_doubles_up_to_its_cap_without_overflowing() -> None:
    assert [backoff(n).total_seconds() for n in (1, 2, 3, 4)] == [10, 20, 40, 80]
    assert backoff(8) == backoff(10_000) == timedelta(minutes=10)


def test_a_retry_on_the_last_attempt_is_a_failure() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    last = WorkItem(1, "deliver", "k", {}, now, 3, 3, "hub-a", now + LEASE)

    decision = decide(last, Retry("busy"), now)

    assert (decision.state, decision.error, decision.retry_at) == (WorkState.FAILED, "busy", None)


def test_the_loop_waits_for_the_next_due_time_but_never_spins_on_work_it_cannot_take() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    poll = timedelta(seconds=5)
    soon = now + timedelta(seconds=2)

    def wake(due: datetime | None, *, started: int = 0, full: bool = False) -> datetime:
        return next_wake(now=now, pass_began=now, due=due, started=started, full=full, poll=poll)

    assert wake(soon) == soon
    assert wake(now + timedelta(hours=1)) == now + poll
    assert wake(None) == now + poll
    assert wake(now, started=1) == now  # more may be due: look again at once
    assert wake(now) == now + poll  # due but another process holds it: no busy loop
    assert wake(soon, full=True) == now + poll  # at the limit: finishing work wakes the loop


# -- takeover -----------------------------------------------------------------------------------


async def test_a_dead_owners_item_is_taken_over_after_its_lease_and_its_late_result_rejected(
    db: Database, clock: FakeClock
) -> None:
    async with db.transaction() as conn:
        await queue.schedule(
            conn, kind="remind", key="remind:1", due_at=clock.now(), now=clock.now()
        )
    async with db.transaction() as conn:
        [dead] = await queue.claim(conn, owner="hub-a", now=clock.now(), lease=LEASE, limit=1)
    survivor = Scheduler(db, clock, owner="hub-b", lease=LEASE)
    runs = Runs(clock)
    survivor.register("remind", runs)

    assert await survivor.run_once() == 0
    await clock.advance(dead.lease_until - clock.now() - TICK)
    assert await survivor.run_once() == 0
    await clock.advance(TICK)
    assert await survivor.run_once() == 1
    await survivor.drain()

    assert [(item.lease_owner, item.attempts) for item in runs.items] == [("hub-b", 2)]
    finished_at = clock.now()
    await clock.advance(timedelta(minutes=1))
    async with db.transaction() as conn:
        assert not await queue.finish(
            conn, dead, now=clock.now(), state=WorkState.FAILED, error="hub-a's late result"
        )
    done = await row(db, "remind:1")
    assert (done.state, done.last_error, done.finished_at) == ("done", None, finished_at)


async def test_a_running_owner_keeps_its_lease_so_nobody_takes_its_work(
    db: Database, clock: FakeClock
) -> None:
    owner = Scheduler(db, clock, owner="hub-a", lease=LEASE)
    other = Scheduler(db, clock, owner="hub-b", lease=LEASE)
    slow, runs_elsewhere = Runs(clock), Runs(clock)
    slow.release.clear()
    owner.register("deliver", slow)
    other.register("deliver", runs_elsewhere)
    await owner.schedule("deliver", "deliver:1", clock.now())
    first_lease_end = clock.now() + LEASE

    assert await owner.run_once() == 1
    await slow.reached(1)
    await clock.advance(LEASE / 3)

    async def renewed() -> bool:
        return bool((await row(db, "deliver:1")).lease_until > first_lease_end)

    await eventually(renewed, what="the lease is renewed")
    await clock.advance(LEASE - LEASE / 3)  # past the first lease's end
    assert await other.run_once() == 0

    slow.release.set()
    await owner.drain()
    done = await row(db, "deliver:1")
    assert (done.state, done.attempts) == ("done", 1)
    assert runs_elsewhere.items == []


async def test_a_transactional_effect_happens_once_when_a_stalled_owner_resumes(
    db: Database, db_settings: HubSettings, clock: FakeClock
) -> None:
    async with db.transaction() as conn:
        await conn.run_sync(effects_metadata.create_all)

    async def apply(item: WorkItem, conn: AsyncConnection) -> Outcome:
        await conn.execute(effects.insert().values(key=item.key, owner=item.lease_owner))
        return None

    stalled_db = StallingDatabase(
        db_settings.sqlalchemy_url, schema=db_settings.bounceback_database_schema
    )
    stalled = Scheduler(stalled_db, clock, owner="hub-a", lease=LEASE)
    survivor = Scheduler(db, clock, owner="hub-b", lease=LEASE)
    stalled.register_transactional("escalate", apply)
    survivor.register_transactional("escalate", apply)
    await survivor.schedule("escalate", "escalate:1", clock.now())
    try:
        assert await stalled.run_once() == 1
        stalled_db.resume.clear()  # hub-a stalls between its claim and running the work

        await clock.advance(LEASE)
        assert await survivor.run_once() == 1
        await survivor.drain()
        stalled_db.resume.set()
        await stalled.drain()
    finally:
        stalled_db.resume.set()
        await stalled_db.dispose()

    assert await effect_owners(db) == ["hub-b"]
    done = await row(db, "escalate:1")
    assert (done.state, done.attempts) == ("done", 2)
    assert (stalled.completed, survivor.completed) == (0, 1)


async def test_a_raising_transactional_handler_leaves_no_effect_and_is_retried(
    db: Database, clock: FakeClock
) -> None:
    async with db.transaction() as conn:
        await conn.run_sync(effects_metadata.create_all)
    calls: list[int] = []

    async def apply(item: WorkItem, conn: AsyncConnection) -> Outcome:
        calls.append(item.attempts)
        await conn.execute(effects.insert().values(key=item.key, owner=item.lease_owner))
        if item.attempts == 1:
            raise RuntimeError("partner rejected the change")
        return None

    scheduler = Scheduler(db, clock, owner="hub-a")
    scheduler.register_transactional("escalate", apply)
    await scheduler.schedule("escalate", "escalate:1", clock.now())

    await scheduler.run_once()
    await scheduler.drain()
    assert await effect_owners(db) == []
    assert (await row(db, "escalate:1")).last_error == "RuntimeError: partner rejected the change"

    await clock.advance(backoff(1))
    await scheduler.run_once()
    await scheduler.drain()
    assert calls == [1, 2]
    assert await effect_owners(db) == ["hub-a"]
    assert (await row(db, "escalate:1")).state == "done"


# -- several owners, limits, shutdown -----------------------------------------------------------


async def test_two_schedulers_claiming_concurrently_never_run_an_item_twice(
    db: Database, db_settings: HubSettings, clock: FakeClock
) -> None:
    other_db = second_handle(db_settings)
    executions: Counter[str] = Counter()

    async def count(item: WorkItem) -> Outcome:
        executions[item.key] += 1
        await asyncio.sleep(0)
        return None

    hubs = [
        Scheduler(db, clock, owner="hub-a", concurrency=7),
        Scheduler(other_db, clock, owner="hub-b", concurrency=7),
    ]
    for hub in hubs:
        hub.register("deliver", count)
    async with db.transaction() as conn:
        for n in range(60):
            await queue.schedule(
                conn, kind="deliver", key=f"deliver:{n}", due_at=clock.now(), now=clock.now()
            )
    try:
        for _ in range(60):
            started = await asyncio.gather(*(hub.run_once() for hub in hubs))
            await asyncio.gather(*(hub.drain() for hub in hubs))
            if sum(started) == 0:
                break
    finally:
        await other_db.dispose()

    assert executions == Counter({f"deliver:{n}": 1 for n in range(60)})
    assert (await counts(db))["done"] == 60
    assert sum(hub.completed for hub in hubs) == 60


async def test_no_more_than_the_concurrency_limit_runs_at_once(
    db: Database, clock: FakeClock
) -> None:
    scheduler = Scheduler(db, clock, concurrency=3)
    runs = Runs(clock)
    runs.release.clear()
    scheduler.register("deliver", runs)
    for n in range(8):
        await scheduler.schedule("deliver", f"deliver:{n}", clock.now())

    scheduler.start()
    await runs.reached(3)
    assert await scheduler.run_once() == 0
    assert runs.running == 3

    runs.release.set()
    await runs.reached(8)
    await scheduler.stop()
    assert runs.peak == 3
    assert (await counts(db))["done"] == 8


async def test_stop_lets_running_work_finish(db: Database) -> None:
    clock = WatchedClock()
    scheduler = Scheduler(db, clock, lease=LEASE, poll=timedelta(hours=1))
    runs = Runs(clock)
    runs.release.clear()
    scheduler.register("deliver", runs)
    await scheduler.schedule("deliver", "deliver:1", clock.now())
    scheduler.start()
    await runs.reached(1)
    lease_end = clock.now() + LEASE  # the next time anything could be claimed
    await clock.sleeper_until(lease_end)

    stopping = asyncio.create_task(scheduler.stop())
    await clock.no_sleeper_until(lease_end)  # the loop stops claiming at once
    for _ in range(5):
        await asyncio.sleep(0)
    assert not scheduler.alive
    assert not stopping.done()  # but stop() waits for the work it started

    runs.release.set()
    async with asyncio.timeout(GUARD_S):
        await stopping
    assert scheduler.completed == 1
    assert (await row(db, "deliver:1")).state == "done"


# -- a real process dies ------------------------------------------------------------------------

DYING_HUB = textwrap.dedent(
    """
    import asyncio, sys
    from datetime import UTC, datetime, timedelta

    from bounceback.api.store.db import Database
    from bounceback.api.work import queue


    async def main() -> None:
        db = Database(sys.argv[1], schema=sys.argv[2] or None)
        async with db.transaction() as conn:
            items = await queue.claim(
                conn, owner="dying-hub", now=datetime.now(UTC), lease=timedelta(seconds=30), limit=1
            )
        print(f"claimed {len(items)}", flush=True)
        await asyncio.Event().wait()  # works on it until killed


    asyncio.run(main())
    """
)


@pytest.mark.slow
async def test_work_of_a_killed_hub_process_is_taken_over_after_its_lease(
    db: Database, db_settings: HubSettings, tmp_path: Path
) -> None:
    clock = FakeClock(datetime.now(UTC))
    survivor = Scheduler(db, clock, owner="survivor", lease=LEASE)
    runs = Runs(clock)
    survivor.register("recover", runs)
    await survivor.schedule("recover", "recover:host-1", clock.now())
    script = tmp_path / "dying_hub.py"
    script.write_text(DYING_HUB)

    dying = await asyncio.create_subprocess_exec(
        sys.executable,
        str(script),
        db_settings.sqlalchemy_url,
        db_settings.bounceback_database_schema or "",
        stdout=asyncio.subprocess.PIPE,
    )
    assert dying.stdout is not None
    try:
        async with asyncio.timeout(GUARD_S):
            line = (await dying.stdout.readline()).decode()
    finally:
        dying.send_signal(signal.SIGKILL)
        await dying.wait()
    assert line.strip() == "claimed 1"
    assert dying.returncode == -signal.SIGKILL

    claimed = await row(db, "recover:host-1")
    assert claimed.lease_owner == "dying-hub"
    assert await survivor.run_once() == 0
    await clock.advance(claimed.lease_until - clock.now() - TICK)
    assert await survivor.run_once() == 0
    await clock.advance(TICK)
    assert await survivor.run_once() == 1
    await survivor.drain()

    assert [(item.lease_owner, item.attempts) for item in runs.items] == [("survivor", 2)]
    done = await row(db, "recover:host-1")
    assert (done.state, done.lease_owner) == ("done", None)
