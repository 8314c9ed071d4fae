"""Acceptance with a real agent: a real hub under uvicorn on 127.0.0.1 (its clock a FakeClock the
test moves) and a real agent whose memory check reports the host's real memory.

The hub's High Memory Usage threshold is set to 1 %, so the real host is above it; the agent
declares the two actions the action commands as harmless scripts.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bounceback.agent.build import build_agent
from bounceback.agent.config import parse_config
from bounceback.agent.credentials import Credentials
from bounceback.agent.loop import AgentLoop
from bounceback.api.auth.roles import Role
from bounceback.api.clock import FakeClock
from bounceback.api.recovery.models import PREDEFINED, RecoveryConfig, Verify
from bounceback.api.settings import HubSettings
from bounceback.api.testing import RunningHub, running_hub

pytestmark = pytest.mark.anyio

AGENT_ID = "test-agent"  # the agent token's name is its agent id
MEMORY = "high-memory-usage"


def low_threshold_memory_action() -> RecoveryConfig:
    [predefined] = [a for a in PREDEFINED if a.id == MEMORY]
    conditions = predefined.conditions.model_copy(
        update={"metric_thresholds": {"memory_percent": 1.0}}
    )
    # Recovered once memory is under 100.5 %: any real sample after the steps verifies.
    steps = predefined.actions.model_copy(
        update={"verify": Verify(metric_thresholds={"memory_percent": 100.5}, delay_seconds=0)}
    )
    action = predefined.model_copy(update={"conditions": conditions, "actions": steps})
    return RecoveryConfig(actions=[action])


@pytest.fixture
async def hub(sqlite_settings: HubSettings, clock: FakeClock) -> AsyncIterator[RunningHub]:
    settings = sqlite_settings.model_copy(update={"recovery": low_threshold_memory_action()})
    async with running_hub(settings, clock=clock) as running:
        yield running


@pytest.fixture
async def agent(hub: RunningHub, tmp_path: Path) -> AsyncIterator[AgentLoop]:
    marker = tmp_path / "ran"
    script = [sys.executable, "-c", f"open({str(marker)!r}, 'a').write('x')"]
    data: dict[str, Any] = {
        "agent": {
            "id": AGENT_ID,
            "interval_seconds": 1,
            "spool_dir": str(tmp_path / "spool"),
            "credentials_file": str(tmp_path / "creds.toml"),
        },
        "checks": [{"name": "mem", "type": "memory", "threshold": 100}],
        "actions": [
            {"name": "clear-caches", "type": "execute_script", "command": script},
            {"name": "memory-cleanup", "type": "execute_script", "command": script},
        ],
    }
    config = parse_config(data, source="test", environ={})
    loop = build_agent(config, Credentials(hub.url, AGENT_ID, hub.tokens[Role.AGENT]))
    yield loop
    await loop.aclose()


async def get(hub: RunningHub, path: str, **params: str) -> Any:
    response = await hub.client.get(path, params=params, headers=hub.auth(Role.VIEWER))
    assert response.status_code == 200, response.text
    return response.json()


async def settle(hub: RunningHub, clock: FakeClock, seconds: float = 5) -> None:
    """Move the hub's clock and run the recovery work that became due."""
    await clock.advance(timedelta(seconds=seconds))
    await hub.hub.scheduler.run_once()
    await hub.hub.scheduler.drain()


async def attempts(hub: RunningHub) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = (await get(hub, "/api/auto-recovery/history"))["items"]
    return items


async def until_commands_issued(hub: RunningHub) -> None:
    """The look that issues the commands runs in the hub's scheduler right after the report."""
    for _ in range(500):
        found = await attempts(hub)
        if found and found[0]["steps"]:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the attempt never issued its commands")


async def test_real_agent_memory_over_threshold_runs_the_action_once_then_cooldown_blocks(
    hub: RunningHub, clock: FakeClock, agent: AgentLoop, tmp_path: Path
) -> None:
    await agent.run_once()  # memory above 1 %: the hold starts
    assert await attempts(hub) == []
    await clock.advance(timedelta(minutes=5))
    await agent.run_once()  # held for the duration: the action fires
    await until_commands_issued(hub)
    await agent.run_once()  # the ack hands over the commands; the agent runs them
    assert (tmp_path / "ran").read_text() == "xx"
    for _ in range(6):
        await agent.run_once()  # reports the command results and a fresh sample
        await settle(hub, clock)
        if (await attempts(hub))[0]["state"] == "succeeded":
            break
    [attempt] = await attempts(hub)
    assert (attempt["action_id"], attempt["host"], attempt["state"]) == (
        MEMORY,
        AGENT_ID,
        "succeeded",
    )
    assert attempt["trigger"] == "metric"
    assert attempt["before"]["memory_percent"] > 1
    detail = await get(hub, f"/api/agents/{AGENT_ID}")
    ran = [c for c in detail["commands"] if c["issued_by"] == f"recovery:{attempt['id']}"]
    assert sorted((c["target"], c["state"]) for c in ran) == [
        ("clear-caches", "done"),
        ("memory-cleanup", "done"),
    ]

    # Inside the 10-minute cooldown: memory held above the threshold again does not start another.
    await clock.advance(timedelta(minutes=5))
    await agent.run_once()
    await settle(hub, clock)
    await agent.run_once()
    await settle(hub, clock)
    assert [a["id"] for a in await attempts(hub)] == [attempt["id"]]
    assert (tmp_path / "ran").read_text() == "xx"
    incident = await get(hub, f"/api/incidents/{attempt['incident_id']}")
    assert incident["state"] == "resolved"
