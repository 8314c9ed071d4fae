"""A hub on a fake clock with degradation rules, agents that report over HTTP, and helpers that
move time and let the hub's scheduled work catch up."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import httpx
import pytest

from bounceback.api.auth.roles import Role
from bounceback.api.clock import FakeClock
from bounceback.api.degradation.config import DegradationConfig
from bounceback.api.settings import HubSettings
from bounceback.api.testing import RunningHub, running_hub

HOSTS = ("web-1", "web-2", "web-3", "web-4")
RULES: dict[str, Any] = {
    "hold_seconds": 120,
    "services": {"checkout": list(HOSTS)},
    "rules": [
        {
            "id": "checkout-db-down",
            "name": "Checkout database unreachable",
            "service": "checkout",
            "level": "severe",
            "conditions": [{"kind": "circuit", "dependency_kind": "database", "fraction": 0.5}],
            "actions": [
                {"type": "disable_feature", "name": "recommendations"},
                {"type": "cached_content", "name": "catalog"},
                {"type": "rate_limit", "name": "checkout-api", "value": 50},
            ],
        },
        {
            "id": "read-only",
            "level": "minimal",
            "actions": [{"type": "reduce_functionality", "name": "search", "value": "basic"}],
        },
    ],
}

HubFactory = Callable[..., AbstractAsyncContextManager[RunningHub]]


@pytest.fixture
def degradation_hub(db_settings: HubSettings, clock: FakeClock) -> HubFactory:
    """``async with degradation_hub(**settings) as hub``: the rules above, a 30 s check."""

    @asynccontextmanager
    async def make(
        rules: dict[str, Any] | None = None, **settings: Any
    ) -> AsyncIterator[RunningHub]:
        config = DegradationConfig.model_validate(rules or RULES)
        values = {**db_settings.model_dump(), "degradation": config, **settings}
        async with running_hub(HubSettings.model_validate(values), clock=clock) as running:
            yield running

    return make


async def settle(hub: RunningHub) -> None:
    """Let the hub's scheduler run everything that is due now, to the end."""
    scheduler = hub.hub.scheduler
    while True:
        started = await scheduler.run_once()
        await scheduler.drain()
        if started == 0:
            return


async def advance(hub: RunningHub, clock: FakeClock, seconds: float) -> None:
    """Move the clock in steps of at most 10 s, letting the hub catch up at each."""
    await settle(hub)
    left = seconds
    while left > 0:
        step = min(10.0, left)
        await clock.advance(step)
        await settle(hub)
        left -= step


class Fleet:
    """Simulated agents: each reports its breakers over HTTP with its own agent token."""

    def __init__(self, hub: RunningHub) -> None:
        self.hub = hub
        self._tokens: dict[str, str] = {}

    async def report(self, agent_id: str, *, database: str = "closed") -> None:
        if agent_id not in self._tokens:
            self._tokens[agent_id] = await self.hub.hub.credentials.create_token(
                agent_id, Role.AGENT
            )
        body = {
            "hostname": f"{agent_id}.example.net",
            "version": "0.1.0",
            "interval_seconds": 10,
            "self_healing_enabled": True,
            "actions": [],
            "breakers": [{"dependency": "postgres", "kind": "database", "state": database}],
            "events": [],
        }
        response = await self.hub.client.post(
            f"/api/agents/{agent_id}/reports",
            json=body,
            headers={"Authorization": f"Bearer {self._tokens[agent_id]}"},
        )
        assert response.status_code == 200, response.text

    async def database(self, state_by_host: dict[str, str]) -> None:
        for host, state in state_by_host.items():
            await self.report(host, database=state)


def viewer(hub: RunningHub) -> dict[str, str]:
    return hub.auth(Role.VIEWER)


async def features(hub: RunningHub) -> httpx.Response:
    return await hub.client.get("/api/auto-recovery/degradation/features", headers=viewer(hub))


Settle = Callable[[RunningHub], Awaitable[None]]
