"""The watch is leased scheduled work: a watch claimed by a replica that died is finished by
another, once, on both backends."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from bounceback.api.clock import FakeClock
from bounceback.api.deployment_wire import DeployedRequest, TrackRequest
from bounceback.api.deployments import lifecycle, store
from bounceback.api.deployments.config import DeploymentsConfig
from bounceback.api.deployments.engine import WATCH_KIND, Engine
from bounceback.api.deployments.watcher import Watcher
from bounceback.api.settings import HubSettings
from bounceback.api.store.db import Database
from bounceback.api.store.tables import deployment_events
from bounceback.api.work import queue
from bounceback.api.work.scheduler import Scheduler

pytestmark = pytest.mark.anyio

LEASE = timedelta(seconds=30)


def replica(db: Database, clock: FakeClock, settings: HubSettings, owner: str) -> Engine:
    scheduler = Scheduler(db, clock, owner=owner, lease=LEASE)
    engine = Engine.build(settings, db, clock, scheduler)
    Watcher(engine).register()
    return engine


async def run(engine: Engine) -> int:
    started = await engine.scheduler.run_once()
    await engine.scheduler.drain()
    return started


async def test_a_watch_claimed_by_a_dead_replica_is_finished_by_another(
    db: Database, clock: FakeClock, db_settings: HubSettings
) -> None:
    config = DeploymentsConfig(warmup_seconds=0, look_interval_seconds=30)
    settings = db_settings.model_copy(update={"deployments": config})
    doomed = replica(db, clock, settings, "hub-a")
    request = TrackRequest(
        target="web", version="v2", stabilization_minutes=0, monitoring_minutes=1
    )
    tracked = await lifecycle.track(doomed, request, "token:test-guard")
    await lifecycle.deployed(doomed, tracked.id, DeployedRequest(), "token:test-guard")

    # hub-a claims the watch as monitoring starts, then dies without finishing it.
    async with db.transaction() as conn:
        [claimed] = await queue.claim(
            conn, owner="hub-a", now=clock.now(), lease=LEASE, limit=1, kinds=[WATCH_KIND]
        )
    survivor = replica(db, clock, settings, "hub-b")
    assert await run(survivor) == 0, "the lease is still hub-a's"

    # The lease runs out as look 1 falls due: hub-b moves the watch on and judges look 1.
    await clock.advance(LEASE)
    assert await run(survivor) == 1
    async with db.read() as conn:
        row = await store.get(conn, tracked.id)
    assert row is not None and row.state == "monitoring"
    assert row.verdict is not None and row.verdict["look"] == 1

    await clock.advance(timedelta(seconds=30))
    assert await run(survivor) == 1
    async with db.read() as conn:
        row = await store.get(conn, tracked.id)
        kinds = list(
            await conn.scalars(
                sa.select(deployment_events.c.kind)
                .where(deployment_events.c.deployment_id == tracked.id)
                .order_by(deployment_events.c.id)
            )
        )
    assert row is not None and row.state == "succeeded"
    assert row.verdict is not None and row.verdict["look"] == 2
    assert kinds.count("monitoring") == 1 and kinds.count("look") == 2

    # hub-a comes back to life: its late result is refused, nothing runs twice.
    async with db.transaction() as conn:
        assert not await queue.finish(conn, claimed, now=clock.now(), state=queue.WorkState.DONE)
