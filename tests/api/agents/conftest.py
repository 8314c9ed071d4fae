"""Factory fixtures that speak the agent protocol to the ``hub`` under test, as any agent."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from bounceback.api.auth.roles import Role
from bounceback.api.testing import RunningHub

AgentAuth = Callable[[str], Awaitable[dict[str, str]]]
SendReport = Callable[..., Awaitable[httpx.Response]]


@pytest.fixture
def agent_auth(hub: RunningHub) -> AgentAuth:
    """Headers with an agent token for ``agent_id`` (made on first use; its name is the id)."""
    tokens: dict[str, str] = {}

    async def auth(agent_id: str) -> dict[str, str]:
        if agent_id not in tokens:
            tokens[agent_id] = await hub.hub.credentials.create_token(agent_id, Role.AGENT)
        return {"Authorization": f"Bearer {tokens[agent_id]}"}

    return auth


@pytest.fixture
def send_report(hub: RunningHub, agent_auth: AgentAuth) -> SendReport:
    """``await send_report("web-1", [{"kind": "sample", "metrics": {...}}], **report_fields)``.

    Events without ``seq`` get the agent's next one, without ``at`` the hub clock's now; the
    report's fields default to a healthy agent reporting every 10 s.
    """
    next_seq: dict[str, int] = {}

    async def send(
        agent_id: str,
        events: list[dict[str, Any]] | None = None,
        *,
        headers: dict[str, str] | None = None,
        **fields: Any,
    ) -> httpx.Response:
        stamped = []
        for event in events or []:
            seq = event.get("seq") or next_seq.get(agent_id, 0) + 1
            next_seq[agent_id] = max(next_seq.get(agent_id, 0), seq)
            at = event.get("at") or hub.hub.clock.now().isoformat()
            stamped.append({**event, "seq": seq, "at": at})
        body = {
            "hostname": f"{agent_id}.example.net",
            "version": "0.1.0",
            "interval_seconds": 10,
            "self_healing_enabled": True,
            "actions": [],
            "breakers": [],
            **fields,
            "events": stamped,
        }
        return await hub.client.post(
            f"/api/agents/{agent_id}/reports",
            json=body,
            headers=headers if headers is not None else await agent_auth(agent_id),
        )

    return send
