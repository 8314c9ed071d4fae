"""Two hub replicas on one PostgreSQL: a command issued through one wakes the agent's long-poll
parked on the other at once, through LISTEN/NOTIFY rather than the poll's periodic look."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from bounceback.api.agents.delivery import RECHECK_SHARED
from bounceback.api.auth.roles import Role
from bounceback.api.auth.store import Credentials
from bounceback.api.clock import FakeClock, SystemClock
from bounceback.api.settings import HubSettings
from bounceback.api.store.db import Database
from bounceback.api.store.migrate import migrate
from bounceback.api.testing import free_port, running_hub, start_hub_process
from tests.conftest import PG_URL

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.postgres,
    pytest.mark.skipif(not PG_URL, reason="BOUNCEBACK_TEST_DATABASE_URL is not set"),
]
GUARD_S = 15  # only reached when a test fails
REPORT = {
    "hostname": "web-1.example.net",
    "version": "0.1.0",
    "interval_seconds": 10,
    "self_healing_enabled": True,
    "actions": ["restart-nginx"],
    "events": [],
}
FORCE = {"host": "web-1", "action": "restart-nginx"}


@pytest.fixture
def pg_settings(pg_schema: str, tmp_path: Path) -> HubSettings:
    return HubSettings(
        bounceback_data_dir=tmp_path / "data",
        database_url=PG_URL,
        bounceback_database_schema=pg_schema,
    )


@pytest.fixture
async def tokens(pg_settings: HubSettings) -> AsyncIterator[dict[str, str]]:
    db = Database(pg_settings.sqlalchemy_url, schema=pg_settings.bounceback_database_schema)
    await migrate(db)
    credentials = Credentials(db, SystemClock())
    yield {
        "operator": await credentials.create_token("ops", Role.OPERATOR),
        "agent": await credentials.create_token("web-1", Role.AGENT),
    }
    await db.dispose()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_a_command_issued_on_one_replica_wakes_a_poll_parked_on_the_other(
    pg_settings: HubSettings, tokens: dict[str, str]
) -> None:
    # Both hubs' clocks stand still: the poll's periodic look never comes, only the signal.
    clock_a, clock_b = FakeClock(), FakeClock()
    async with (
        running_hub(pg_settings, clock=clock_a, create_credentials=False) as a,
        running_hub(pg_settings, clock=clock_b, create_credentials=False) as b,
    ):
        agent = bearer(tokens["agent"])
        report = await a.client.post("/api/agents/web-1/reports", json=REPORT, headers=agent)
        assert report.status_code == 200, report.text
        poll = asyncio.create_task(
            b.client.get("/api/agents/web-1/commands", params={"wait": 25}, headers=agent)
        )
        try:
            await asyncio.sleep(0.2)  # parked on b
            assert not poll.done()
            forced = await a.client.post(
                "/api/auto-recovery/self-healing/force",
                json=FORCE,
                headers=bearer(tokens["operator"]),
            )
            assert forced.status_code == 202, forced.text
            response = await asyncio.wait_for(asyncio.shield(poll), GUARD_S)
        finally:
            await clock_b.advance(30)  # on failure, let the parked poll end so b can stop
            await poll
        assert [c["id"] for c in response.json()["commands"]] == [forced.json()["command"]["id"]]


async def test_two_hub_processes_hand_a_command_from_one_to_the_others_long_poll_at_once(
    pg_settings: HubSettings, tokens: dict[str, str], tmp_path: Path
) -> None:
    ports = [free_port(), free_port()]
    processes: list[subprocess.Popen[bytes]] = []
    try:
        for port in ports:
            processes.append(
                await start_hub_process(pg_settings, port, tmp_path / f"hub-{port}.log")
            )
        a, b = (f"http://127.0.0.1:{port}" for port in ports)
        agent = bearer(tokens["agent"])
        async with httpx.AsyncClient(timeout=GUARD_S) as client:
            report = await client.post(f"{a}/api/agents/web-1/reports", json=REPORT, headers=agent)
            assert report.status_code == 200, report.text
            began = time.monotonic()
            poll = asyncio.create_task(
                client.get(f"{b}/api/agents/web-1/commands", params={"wait": 25}, headers=agent)
            )
            await asyncio.sleep(0.5)  # parked on b
            assert not poll.done()
            forced = await client.post(
                f"{a}/api/auto-recovery/self-healing/force",
                json=FORCE,
                headers=bearer(tokens["operator"]),
            )
            assert forced.status_code == 202, forced.text
            response = await asyncio.wait_for(poll, GUARD_S)
            waited = time.monotonic() - began
        assert [c["id"] for c in response.json()["commands"]] == [forced.json()["command"]["id"]]
        # Before b's own periodic look at the store could have found it (and far before the
        # poll's 25 s): it was the signal.
        assert waited < RECHECK_SHARED.total_seconds()
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            await asyncio.to_thread(process.wait, 30)
