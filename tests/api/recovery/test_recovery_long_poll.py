"""A recovery command wakes the agent's waiting long-poll, as a fleet action's command does.

The hub's clock only moves when told to, so a poll answered before it moves was woken by the
command itself, not by the poll's periodic look at the store.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from bounceback.api.auth.roles import Role
from bounceback.api.clock import FakeClock
from bounceback.api.settings import HubSettings
from bounceback.api.testing import RunningHub, running_hub

pytestmark = pytest.mark.anyio
GUARD_S = 10  # only reached when the test fails


@pytest.fixture
async def hub(db_settings: HubSettings, clock: FakeClock) -> AsyncIterator[RunningHub]:
    async with running_hub(db_settings, clock=clock) as running:
        yield running


async def test_a_recovery_command_wakes_the_waiting_long_poll(
    hub: RunningHub, clock: FakeClock
) -> None:
    headers = {
        "Authorization": f"Bearer {await hub.hub.credentials.create_token('web-1', Role.AGENT)}"
    }
    seq = 0

    async def report(memory: float) -> list[int]:
        nonlocal seq
        seq += 1
        sample = {
            "kind": "sample",
            "seq": seq,
            "at": clock.now().isoformat(),
            "metrics": {"memory_percent": memory},
        }
        body = {
            "hostname": "web-1",
            "version": "0.1.0",
            "interval_seconds": 10,
            "self_healing_enabled": True,
            "actions": ["clear-caches", "memory-cleanup"],
            "events": [sample],
        }
        response = await hub.client.post("/api/agents/web-1/reports", json=body, headers=headers)
        assert response.status_code == 200, response.text
        return [command["id"] for command in response.json()["commands"]]

    assert await report(95) == []
    await clock.advance(timedelta(minutes=5))
    poll = asyncio.create_task(
        hub.client.get("/api/agents/web-1/commands", params={"wait": 25}, headers=headers)
    )
    await asyncio.sleep(0.05)  # let the request reach its wait
    assert not poll.done()
    assert await report(95) == []  # held 5 minutes: the attempt starts after this report

    response = await asyncio.wait_for(poll, GUARD_S)

    commands = response.json()["commands"]
    assert [(c["kind"], c["target"]) for c in commands] == [
        ("run_action", "clear-caches"),
        ("run_action", "memory-cleanup"),
    ]
    assert len({c["issued_by"] for c in commands}) == 1
    active = await hub.client.get("/api/auto-recovery/active", headers=hub.auth(Role.VIEWER))
    [attempt] = active.json()["items"]
    assert attempt["id"] == int(commands[0]["issued_by"].removeprefix("recovery:"))
    assert [s["command_id"] for s in attempt["steps"]] == [c["id"] for c in commands]
