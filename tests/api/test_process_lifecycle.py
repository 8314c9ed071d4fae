"""The hub as a real process: a SIGKILL loses no acknowledged alert; SIGTERM drains and exits."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from bounceback.api.auth.roles import Role
from bounceback.api.auth.store import Credentials
from bounceback.api.clock import SystemClock
from bounceback.api.settings import HubSettings
from bounceback.api.store.db import Database
from bounceback.api.store.migrate import migrate
from bounceback.api.store.tables import incidents
from bounceback.api.testing import free_port, start_hub_process

pytestmark = pytest.mark.anyio


async def prepared_store(settings: HubSettings) -> tuple[Database, str]:
    db = Database(settings.sqlalchemy_url, schema=settings.bounceback_database_schema)
    await migrate(db)
    token = await Credentials(db, SystemClock()).create_token("burst", Role.OPERATOR)
    return db, token


async def burst(port: int, token: str, acknowledged: list[str], stop: asyncio.Event) -> None:
    """Send alerts with unique fingerprints from 16 clients until ``stop``; note every 2xx."""
    headers = {"Authorization": f"Bearer {token}"}

    async def client_loop(worker: int) -> None:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as client:
            n = 0
            while not stop.is_set():
                fingerprint = f"w{worker}-{n}"
                n += 1
                body = {"source": "burst", "summary": "x", "fingerprint": fingerprint}
                try:
                    response = await client.post("/api/alerts", json=body, headers=headers)
                except httpx.TransportError:
                    return
                if response.is_success:
                    acknowledged.append(fingerprint)

    await asyncio.gather(*(client_loop(worker) for worker in range(16)))


async def until_acknowledged(acknowledged: list[str], count: int) -> None:
    for _ in range(3000):
        if len(acknowledged) >= count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"only {len(acknowledged)} alerts were acknowledged")


async def stored_dedup_keys(db: Database) -> set[str]:
    async with db.read() as conn:
        return set((await conn.scalars(sa.select(incidents.c.dedup_key))).all())


async def test_sigkill_during_a_burst_loses_no_acknowledged_alert(
    db_settings: HubSettings, tmp_path: Path
) -> None:
    db, token = await prepared_store(db_settings)
    port = free_port()
    process = await start_hub_process(db_settings, port, tmp_path / "hub.log")
    acknowledged: list[str] = []
    stop = asyncio.Event()
    sender = asyncio.create_task(burst(port, token, acknowledged, stop))
    await until_acknowledged(acknowledged, 300)
    process.send_signal(signal.SIGKILL)
    process.wait()
    stop.set()
    await sender

    restarted = await start_hub_process(db_settings, port, tmp_path / "hub.log")
    try:
        stored = await stored_dedup_keys(db)
        assert set(acknowledged) <= stored, set(acknowledged) - stored
        async with httpx.AsyncClient() as client:
            response = await client.get(
                f"http://127.0.0.1:{port}/api/incidents?limit=1",
                headers={"Authorization": f"Bearer {token}"},
            )
        assert response.status_code == 200
    finally:
        restarted.terminate()
        restarted.wait(timeout=30)
        await db.dispose()


async def test_sigterm_drains_in_flight_requests_and_exits_cleanly(
    sqlite_settings: HubSettings, tmp_path: Path
) -> None:
    db, token = await prepared_store(sqlite_settings)
    port = free_port()
    log = tmp_path / "hub.log"
    process = await start_hub_process(sqlite_settings, port, log)
    acknowledged: list[str] = []
    stop = asyncio.Event()
    sender = asyncio.create_task(burst(port, token, acknowledged, stop))
    await until_acknowledged(acknowledged, 100)
    process.send_signal(signal.SIGTERM)
    exit_code = await asyncio.to_thread(process.wait, 30)
    stop.set()
    await sender
    try:
        assert exit_code == 0
        assert set(acknowledged) <= await stored_dedup_keys(db)
        assert "hub stopped" in log.read_text()
    finally:
        await db.dispose()
