"""A hub killed between the escalation decision and the delivery: the page goes out once."""

from __future__ import annotations

import asyncio
import signal
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
import tomli_w

from bounceback.api.auth.roles import Role
from bounceback.api.auth.store import Credentials
from bounceback.api.clock import FakeClock, SystemClock
from bounceback.api.settings import HubSettings
from bounceback.api.store.db import Database
from bounceback.api.store.migrate import migrate
from bounceback.api.store.tables import notifications
from bounceback.api.testing import free_port, running_hub, start_hub_process
from tests.api.escalation.conftest import GUARD_S, MailSink, config

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


def hub_toml(path: Path, smtp_port: int) -> Path:
    section = config(smtp={"host": "127.0.0.1", "port": smtp_port, "security": "none"})
    path.write_text(
        tomli_w.dumps({"escalation": section.model_dump(mode="json", exclude_none=True)})
    )
    return path


async def test_a_hub_killed_between_decision_and_delivery_pages_exactly_once_after_restart(
    db_settings: HubSettings, smtp: tuple[MailSink, int], tmp_path: Path
) -> None:
    sink, smtp_port = smtp
    db = Database(db_settings.sqlalchemy_url, schema=db_settings.bounceback_database_schema)
    await migrate(db)
    token = await Credentials(db, SystemClock()).create_token("ops", Role.OPERATOR)
    config_file = hub_toml(tmp_path / "hub.toml", smtp_port)
    sink.hold.set()  # the SMTP server takes the message but never says it accepted it
    port = free_port()
    process = await start_hub_process(
        db_settings, port, tmp_path / "hub.log", BOUNCEBACK_CONFIG=str(config_file)
    )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            response = await client.post(
                "/api/alerts",
                json={"source": "t", "summary": "db down", "severity": "critical"},
                headers={"Authorization": f"Bearer {token}"},
            )
        assert response.status_code == 202
        await asyncio.wait_for(asyncio.to_thread(sink.holding.wait), GUARD_S)
    finally:
        process.send_signal(signal.SIGKILL)
        await asyncio.to_thread(process.wait)
    sink.hold.clear()
    assert sink.messages == []
    async with db.read() as conn:
        [row] = (await conn.execute(sa.select(notifications))).all()
    assert (row.state, row.person_id) == ("pending", "ann")  # decided, not delivered

    # Restarted (in-process, its clock past the dead process's lease): delivered once.
    clock = FakeClock(datetime.now(UTC) + timedelta(minutes=1))
    settings = db_settings.model_copy(
        update={
            "escalation": config(smtp={"host": "127.0.0.1", "port": smtp_port, "security": "none"})
        }
    )
    async with running_hub(settings, clock=clock, create_credentials=False) as hub:
        hub.hub.scheduler.wake()
        [mail] = await sink.wait_for(1)
        assert mail["To"] == "ann@example.com"
        # Recorded as sent before the fake clock jumps past the delivery's lease (real time
        # renews a lease long before it runs out; a jumped clock would not wait for that).
        async with asyncio.timeout(15):
            while True:
                async with db.read() as conn:
                    [row] = (await conn.execute(sa.select(notifications))).all()
                if row.state == "sent":
                    break
                await asyncio.sleep(0.01)
        for _ in range(3):
            await clock.advance(timedelta(minutes=1))
            await hub.hub.scheduler.run_once()
            await hub.hub.scheduler.drain()
    assert len(sink.messages) == 1
    async with db.read() as conn:
        [row] = (await conn.execute(sa.select(notifications))).all()
    assert (row.state, row.attempts) == ("sent", 1)
    await db.dispose()
