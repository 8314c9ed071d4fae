"""An agent speaking the report protocol to a running hub, for the dashboard's page tests."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from bounceback.api.auth.roles import Role
from bounceback.api.clock import FakeClock
from bounceback.api.testing import RunningHub


class Agent:
    """Each report carries the given events (numbered here) and answers the commands the hub
    handed over in its previous answer with ``outcome``."""

    def __init__(self, hub: RunningHub, agent_id: str, token: str) -> None:
        self.hub, self.id, self.seq = hub, agent_id, 0
        self.headers = {"Authorization": f"Bearer {token}"}
        self.pending: list[int] = []
        self.outcome = "done"

    def _event(self, kind: str, at: datetime | None = None, **data: Any) -> dict[str, Any]:
        self.seq += 1
        when = at or self.hub.hub.clock.now()
        return {"kind": kind, "seq": self.seq, "at": when.isoformat(), **data}

    async def report(
        self,
        samples: list[dict[str, float]] | None = None,
        *,
        breakers: list[dict[str, Any]] | None = None,
        healing: list[dict[str, Any]] | None = None,
        interval_seconds: float = 10,
    ) -> dict[str, Any]:
        now = self.hub.hub.clock.now()
        events = [
            self._event("command_result", command_id=command, outcome=self.outcome)
            for command in self.pending
        ]
        self.pending = []
        older = len(samples or [])
        for index, metrics in enumerate(samples or []):
            at = now - timedelta(seconds=older - 1 - index)
            events.append(self._event("sample", at, metrics=metrics))
        events += [self._event("healing", attempt=attempt) for attempt in healing or []]
        body = {
            "hostname": f"{self.id}.example.net",
            "version": "0.1.0",
            "interval_seconds": interval_seconds,
            "self_healing_enabled": True,
            "actions": ["clear-caches", "memory-cleanup", "restart-app"],
            "breakers": breakers or [],
            "events": events,
        }
        response = await self.hub.client.post(
            f"/api/agents/{self.id}/reports", json=body, headers=self.headers
        )
        assert response.status_code == 200, response.text
        answer: dict[str, Any] = response.json()
        self.pending = [command["id"] for command in answer["commands"]]
        return answer


async def agent(hub: RunningHub, agent_id: str) -> Agent:
    token = await hub.hub.credentials.create_token(agent_id, Role.AGENT)
    return Agent(hub, agent_id, token)


async def settle(hub: RunningHub, clock: FakeClock, seconds: float = 5) -> None:
    """Move the fake clock on and let the hub's scheduled work run."""
    await clock.advance(timedelta(seconds=seconds))
    await hub.hub.scheduler.run_once()
    await hub.hub.scheduler.drain()
