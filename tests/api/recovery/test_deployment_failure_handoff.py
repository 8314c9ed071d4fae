"""The Deployment Failure action hands over to the guard's deployment rollback: run through the
real engine on a real hub, its step requests the rollback the rollback endpoint would."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from bounceback.api.auth.roles import Role
from bounceback.api.clock import FakeClock
from bounceback.api.settings import HubSettings
from bounceback.api.testing import RunningHub, running_hub

pytestmark = pytest.mark.anyio
DEPLOYMENTS = "/api/auto-recovery/deployment"


@pytest.fixture
async def hub(db_settings: HubSettings, clock: FakeClock) -> AsyncIterator[RunningHub]:
    async with running_hub(db_settings, clock=clock) as running:
        yield running


async def post(hub: RunningHub, path: str, body: Any, role: Role = Role.GUARD) -> Any:
    response = await hub.client.post(path, json=body, headers=hub.auth(role))
    assert response.status_code in (200, 201, 202), response.text
    return response.json()


async def deployed(hub: RunningHub, version: str) -> int:
    tracked = await post(hub, f"{DEPLOYMENTS}/track", {"target": "web", "version": version})
    await post(hub, f"{DEPLOYMENTS}/{tracked['id']}/deployed", {})
    await post(hub, f"{DEPLOYMENTS}/{tracked['id']}/finish", {"outcome": "succeeded"})
    deployment_id: int = tracked["id"]
    return deployment_id


async def settle(hub: RunningHub, clock: FakeClock) -> None:
    """Run what is due, then move past the engine's next look (5 s) and run that too."""
    for _ in range(3):
        await hub.hub.scheduler.run_once()
        await hub.hub.scheduler.drain()
        await clock.advance(5)


async def test_deployment_failure_requests_the_rollback_of_its_target(
    hub: RunningHub, clock: FakeClock
) -> None:
    await deployed(hub, "v1")
    bad = await deployed(hub, "v2")
    started = await post(
        hub,
        "/api/auto-recovery/test/deployment-failure?execute=true",
        {"target": "web"},
        role=Role.OPERATOR,
    )
    await settle(hub, clock)

    history = await hub.client.get("/api/auto-recovery/history", headers=hub.auth(Role.VIEWER))
    [attempt] = history.json()["items"]
    assert attempt["id"] == started["attempt_id"]
    assert attempt["state"] == "succeeded"
    [step] = attempt["steps"]
    assert step["type"] == "deployment_rollback"
    assert step["target"] == "web"
    assert step["outcome"] == "done"
    detail = await hub.client.get(f"{DEPLOYMENTS}/{bad}", headers=hub.auth(Role.VIEWER))
    undone = detail.json()["deployment"]
    assert undone["rollback_requested"] is True
    assert step["message"] == (
        f"rollback of web requested: tracked as deployment {undone['rolled_back_by']}"
    )
