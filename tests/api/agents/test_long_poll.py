"""``GET /api/agents/{id}/commands?wait=N`` on a hub whose clock only moves when told to: a poll
that returns before the clock moves was woken by the command itself, not by a periodic look."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest

from bounceback.api.auth.roles import Role
from bounceback.api.clock import FakeClock
from bounceback.api.settings import HubSettings
from bounceback.api.testing import RunningHub, running_hub

pytestmark = pytest.mark.anyio

AgentAuth = Callable[[str], Awaitable[dict[str, str]]]
SendReport = Callable[..., Awaitable[httpx.Response]]
GUARD_S = 10  # only reached when a test fails


@pytest.fixture
async def hub(db_settings: HubSettings, clock: FakeClock) -> AsyncIterator[RunningHub]:
    async with running_hub(db_settings, clock=clock) as running:
        yield running


async def start_poll(
    hub: RunningHub, agent_auth: AgentAuth, wait: int = 25
) -> asyncio.Task[httpx.Response]:
    headers = await agent_auth("web-1")
    poll = asyncio.create_task(
        hub.client.get("/api/agents/web-1/commands", params={"wait": wait}, headers=headers)
    )
    await asyncio.sleep(0.05)  # let the request reach its wait
    assert not poll.done()
    return poll


async def force(hub: RunningHub) -> int:
    response = await hub.client.post(
        "/api/auto-recovery/self-healing/force",
        json={"host": "web-1", "action": "restart-nginx"},
        headers=hub.auth(Role.OPERATOR),
    )
    assert response.status_code == 202, response.text
    command_id: int = response.json()["command"]["id"]
    return command_id


async def test_a_waiting_poll_returns_as_soon_as_a_command_is_issued(
    hub: RunningHub, send_report: SendReport, agent_auth: AgentAuth
) -> None:
    await send_report("web-1", [], actions=["restart-nginx"])
    poll = await start_poll(hub, agent_auth)
    command_id = await force(hub)
    response = await asyncio.wait_for(poll, GUARD_S)
    assert [command["id"] for command in response.json()["commands"]] == [command_id]
    # Handed over once: neither the next poll nor the next ack carries it again.
    again = await hub.client.get("/api/agents/web-1/commands", headers=await agent_auth("web-1"))
    assert again.json() == {"commands": []}
    assert (await send_report("web-1", [], actions=["restart-nginx"])).json()["commands"] == []
    detail = (await hub.client.get("/api/agents/web-1", headers=hub.auth(Role.VIEWER))).json()
    assert detail["commands"][0]["state"] == "delivered"


async def test_a_poll_with_nothing_to_deliver_ends_when_its_wait_is_over(
    hub: RunningHub, agent_auth: AgentAuth, clock: FakeClock
) -> None:
    poll = await start_poll(hub, agent_auth, wait=25)
    await clock.advance(24)
    await asyncio.sleep(0.05)
    assert not poll.done()
    await clock.advance(1)
    response = await asyncio.wait_for(poll, GUARD_S)
    assert response.json() == {"commands": []}


async def test_a_poll_answers_pending_commands_at_once(
    hub: RunningHub, send_report: SendReport, agent_auth: AgentAuth
) -> None:
    await send_report("web-1", [], actions=["restart-nginx"])
    await force(hub)
    response = await asyncio.wait_for(
        hub.client.get(
            "/api/agents/web-1/commands", params={"wait": 30}, headers=await agent_auth("web-1")
        ),
        GUARD_S,
    )
    assert len(response.json()["commands"]) == 1


async def test_deliveries_are_audited(
    hub: RunningHub, send_report: SendReport, agent_auth: AgentAuth
) -> None:
    await send_report("web-1", [], actions=["restart-nginx"])
    command_id = await force(hub)
    await hub.client.get("/api/agents/web-1/commands", headers=await agent_auth("web-1"))
    audit = await hub.client.get(
        "/api/auto-recovery/audit",
        params={"action": "agent.commands.deliver"},
        headers=hub.auth(Role.ADMIN),
    )
    [record] = audit.json()["items"]
    assert record["details"] == {"commands": [command_id]}
    assert record["actor"] == "token:web-1"


@pytest.mark.parametrize("wait", ["-1", "31", "soon", "nan"])
async def test_the_wait_is_validated(hub: RunningHub, agent_auth: AgentAuth, wait: str) -> None:
    response = await hub.client.get(
        "/api/agents/web-1/commands", params={"wait": wait}, headers=await agent_auth("web-1")
    )
    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["field"] == "wait"
