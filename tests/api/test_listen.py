"""Signals between replicas over PostgreSQL LISTEN/NOTIFY: delivered across, scoped to one
schema, and back after the listening connection is killed (with a resync for what was missed)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack

import asyncpg
import pytest

from bounceback.api.settings import async_database_url
from bounceback.api.signals import AGENT_COMMANDS, CHANGES, RESYNC, Signals
from bounceback.api.store.listen import PgNotify, asyncpg_dsn, channel_name
from tests.conftest import PG_URL

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.postgres,
    pytest.mark.skipif(not PG_URL, reason="BOUNCEBACK_TEST_DATABASE_URL is not set"),
]
GUARD_S = 10  # only reached when a test fails

Replica = Callable[[str], Awaitable[tuple[Signals, PgNotify]]]


def dsn() -> str:
    assert PG_URL is not None
    return asyncpg_dsn(async_database_url(PG_URL))


@pytest.fixture
async def replica() -> AsyncIterator[Replica]:
    """``await replica(schema)``: the signals of one hub replica on that schema, connected."""
    async with AsyncExitStack() as stack:

        async def make(schema: str) -> tuple[Signals, PgNotify]:
            transport = PgNotify(dsn(), schema=schema, backoff=(0.05, 0.2))
            signals = Signals(transport)
            await signals.start()
            stack.push_async_callback(signals.stop)
            await asyncio.wait_for(transport.connected.wait(), GUARD_S)
            return signals, transport

        yield make


async def test_a_signal_published_on_one_replica_wakes_a_waiter_on_another(
    replica: Replica, pg_schema: str
) -> None:
    (a, _), (b, _) = await replica(pg_schema), await replica(pg_schema)
    wake = b.event(AGENT_COMMANDS, "web-1")
    async with a.subscribe(AGENT_COMMANDS) as own, b.subscribe(CHANGES) as changes:
        a.publish(AGENT_COMMANDS, "web-1")
        await asyncio.wait_for(wake.wait(), GUARD_S)
        a.publish(CHANGES, "incident")
        a.publish(CHANGES, "agent")
        heard: set[str] = set()
        while heard != {"incident", "agent"}:
            heard |= await asyncio.wait_for(anext(changes), GUARD_S)
        # The publisher heard its own signal once, locally, not again as an echo.
        assert await anext(own) == {"web-1"}
        await asyncio.sleep(0.2)
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(anext(own), 0.2)


async def test_replicas_on_another_schema_hear_nothing(replica: Replica, pg_schema: str) -> None:
    (a, _), (other, _) = await replica(pg_schema), await replica(pg_schema + "_other")
    (b, _) = await replica(pg_schema)
    stranger = other.event(AGENT_COMMANDS, "web-1")
    neighbour = b.event(AGENT_COMMANDS, "web-1")
    a.publish(AGENT_COMMANDS, "web-1")
    await asyncio.wait_for(neighbour.wait(), GUARD_S)
    await asyncio.sleep(0.2)
    assert not stranger.is_set()
    assert channel_name(pg_schema) != channel_name(pg_schema + "_other")


async def test_a_killed_listening_connection_comes_back_resyncs_and_sends_what_was_queued(
    replica: Replica, pg_schema: str
) -> None:
    (a, a_link), (b, b_link) = await replica(pg_schema), await replica(pg_schema)
    parked = b.event(AGENT_COMMANDS, "web-9")
    async with b.subscribe(CHANGES) as changes:
        admin = await asyncpg.connect(dsn())
        try:
            # Both replicas' connections go, as in a failover (no one else's: the server is
            # shared).
            for pid in (a_link.backend_pid, b_link.backend_pid):
                assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid)
        finally:
            await admin.close()
        a.publish(CHANGES, "deployment")  # queued while a's connection may be down
        async with asyncio.timeout(GUARD_S):
            while b_link.connections < 2 or a_link.connections < 2:  # noqa: ASYNC110
                await asyncio.sleep(0.02)
        # b may have missed signals: its parked long-poll wakes to look at the store again.
        await asyncio.wait_for(parked.wait(), GUARD_S)
        heard: set[str] = set()
        while "deployment" not in heard:
            heard |= await asyncio.wait_for(anext(changes), GUARD_S)
        assert RESYNC in heard
    # And signals flow again afterwards.
    again = b.event(AGENT_COMMANDS, "web-2")
    a.publish(AGENT_COMMANDS, "web-2")
    await asyncio.wait_for(again.wait(), GUARD_S)


async def test_a_replica_starts_while_postgresql_is_unreachable_and_connects_later() -> None:
    attempts = 0
    real = dsn()

    async def flaky(target: str) -> object:
        nonlocal attempts
        attempts += 1
        if attempts < 3:
            raise OSError("connection refused")
        return await asyncpg.connect(real)

    transport = PgNotify(real, schema="bb_unreachable", connect=flaky, backoff=(0.01, 0.05))
    signals = Signals(transport)
    await signals.start()  # does not wait for the database
    try:
        await asyncio.wait_for(transport.connected.wait(), GUARD_S)
        assert attempts == 3
    finally:
        await signals.stop()
