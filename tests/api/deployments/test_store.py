"""The deployments store on both backends."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from bounceback.api.clock import FakeClock
from bounceback.api.deployment_wire import DeploymentState, TrackRequest
from bounceback.api.deployments import lifecycle, samples, store
from bounceback.api.deployments.engine import Engine
from bounceback.api.settings import HubSettings
from bounceback.api.store.db import Database
from bounceback.api.store.tables import agent_events, agents
from bounceback.api.work.scheduler import Scheduler

pytestmark = pytest.mark.anyio


@pytest.fixture
def engine(db: Database, clock: FakeClock, db_settings: HubSettings) -> Engine:
    return Engine.build(db_settings, db, clock, Scheduler(db, clock, owner="test"))


async def tracked(engine: Engine, version: str, **fields: Any) -> int:
    request = TrackRequest(target="web", version=version, **fields)
    return (await lifecycle.track(engine, request, "token:test")).id


async def test_a_retried_probe_round_stores_each_request_once(
    engine: Engine, db: Database, clock: FakeClock
) -> None:
    deployment_id = await tracked(engine, "v1")
    probes = [store.Probe(clock.now(), 0, True, 200, 3.5, None) for _ in range(3)]
    for _ in range(2):
        async with db.transaction() as conn:
            await store.insert_probes(conn, deployment_id, 4, probes)
    async with db.read() as conn:
        found = await store.probes_between(conn, deployment_id, None, None)
    assert len(found) == 3
    assert {probe.round_number for probe in found} == {4}
    assert found[0].at == clock.now() and found[0].latency_ms == 3.5


async def test_the_last_good_version_is_the_latest_success_before_the_deployment(
    engine: Engine, db: Database
) -> None:
    ids = [await tracked(engine, version) for version in ("v1", "v2", "v3")]
    async with db.transaction() as conn:
        for deployment_id in ids[:2]:
            await store.update(conn, deployment_id, {"state": DeploymentState.SUCCEEDED.value})
    async with db.read() as conn:
        assert await store.last_good_version(conn, "web", "production", ids[2]) == "v2"
        assert await store.last_good_version(conn, "web", "production", ids[1]) == "v1"
        assert await store.last_good_version(conn, "web", "production", ids[0]) is None
        assert await store.last_good_version(conn, "web", "staging", None) is None
    # previous_version defaults to the last good version
    later = await tracked(engine, "v4")
    async with db.read() as conn:
        row = await store.get(conn, later)
    assert row is not None and row.previous_version == "v2"


async def test_recent_failures_are_found_by_when_they_finished(
    engine: Engine, db: Database, clock: FakeClock
) -> None:
    failed = await tracked(engine, "v1")
    async with db.transaction() as conn:
        await store.update(
            conn, failed, {"state": DeploymentState.FAILED.value, "finished_at": clock.now()}
        )
        hour_ago = clock.now() - timedelta(hours=1)
        later = clock.now() + timedelta(seconds=1)
        assert [r.id for r in await store.failures_since(conn, "web", "production", hour_ago)] == [
            failed
        ]
        assert await store.failures_since(conn, "web", "production", later) == []


async def test_agent_readings_of_the_target_hosts_join_the_samples(
    db: Database, clock: FakeClock
) -> None:
    now = clock.now()
    async with db.transaction() as conn:
        for host in ("web-1", "db-1"):
            await conn.execute(
                agents.insert().values(
                    id=host,
                    hostname=host,
                    version="1",
                    interval_seconds=10,
                    self_healing_enabled=True,
                    dry_run=False,
                    actions=[],
                    last_metrics={},
                    last_checks=[],
                    first_seen=now,
                    last_seen=now,
                    last_seq=0,
                    reports=0,
                    events_lost=0,
                    silence_check=0,
                )
            )
        for seq in range(1, 6):
            for host, cpu in (("web-1", 40.0 + seq), ("db-1", 90.0)):
                await conn.execute(
                    agent_events.insert().values(
                        agent_id=host,
                        seq=seq,
                        kind="sample",
                        at=now + timedelta(seconds=10 * seq),
                        received_at=now,
                        data={"metrics": {"cpu_percent": cpu, "memory_percent": 50.0}},
                    )
                )
    side = samples.Side()
    async with db.read() as conn:
        await samples.add_agent_metrics(conn, side, ["web-1"], now, now + timedelta(seconds=35))
    assert side.distributions == {
        "cpu_percent": [41.0, 42.0, 43.0],
        "memory_percent": [50.0, 50.0, 50.0],
    }
