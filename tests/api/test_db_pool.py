"""PostgreSQL pooled connections that died while idle (a failover, a proxy's timeout) are
replaced before use; busy connections are not pinged at every checkout."""

from __future__ import annotations

import asyncpg
import pytest
import sqlalchemy as sa

from bounceback.api.settings import async_database_url
from bounceback.api.store.db import Database
from bounceback.api.store.listen import asyncpg_dsn
from tests.conftest import PG_URL

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.postgres,
    pytest.mark.skipif(not PG_URL, reason="BOUNCEBACK_TEST_DATABASE_URL is not set"),
]


async def backend_pid(db: Database) -> int:
    async with db.read() as conn:
        pid: int = await conn.scalar(sa.text("SELECT pg_backend_pid()"))
    return pid


async def terminate(pid: int) -> None:
    assert PG_URL is not None
    admin = await asyncpg.connect(asyncpg_dsn(async_database_url(PG_URL)))
    try:
        assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid)
    finally:
        await admin.close()


async def test_a_pooled_connection_killed_while_idle_is_replaced_before_use() -> None:
    assert PG_URL is not None
    db = Database(async_database_url(PG_URL), ping_after=0)
    try:
        first = await backend_pid(db)
        await terminate(first)
        assert await backend_pid(db) != first  # pinged, found dead, replaced: no error
    finally:
        await db.dispose()


async def test_a_connection_back_from_use_a_moment_ago_is_not_pinged() -> None:
    assert PG_URL is not None
    db = Database(async_database_url(PG_URL), ping_after=3600)
    try:
        await terminate(await backend_pid(db))
        # Not idle long enough to be checked: the dead connection is used, and fails.
        with pytest.raises(sa.exc.DBAPIError):
            await backend_pid(db)
        await backend_pid(db)  # the pool dropped it; the next one works
    finally:
        await db.dispose()
