"""Recovery over HTTP on a real hub, both backends, with a fake clock driving the engine."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest

from bounceback.api.auth.roles import Role
from bounceback.api.clock import FakeClock
from bounceback.api.settings import HubSettings
from bounceback.api.testing import RunningHub, running_hub

pytestmark = pytest.mark.anyio
MEMORY = "high-memory-usage"


@pytest.fixture
async def hub(db_settings: HubSettings, clock: FakeClock) -> AsyncIterator[RunningHub]:
    async with running_hub(db_settings, clock=clock) as running:
        yield running


class Agent:
    def __init__(self, hub: RunningHub, agent_id: str, token: str) -> None:
        self.hub, self.id, self.seq = hub, agent_id, 0
        self.headers = {"Authorization": f"Bearer {token}"}
        self.answers: dict[int, str] = {}

    async def report(self, memory: float, outcome: str = "done") -> None:
        """One report with a sample; answers the commands handed over last time."""
        events: list[dict[str, Any]] = []
        now = self.hub.hub.clock.now().isoformat()
        for command_id, answer in list(self.answers.items()):
            self.seq += 1
            events.append(
                {
                    "kind": "command_result",
                    "seq": self.seq,
                    "at": now,
                    "command_id": command_id,
                    "outcome": answer,
                }
            )
        self.answers.clear()
        self.seq += 1
        events.append(
            {"kind": "sample", "seq": self.seq, "at": now, "metrics": {"memory_percent": memory}}
        )
        body = {
            "hostname": self.id,
            "version": "0.1.0",
            "interval_seconds": 10,
            "self_healing_enabled": True,
            "actions": ["clear-caches", "memory-cleanup"],
            "events": events,
        }
        response = await self.hub.client.post(
            f"/api/agents/{self.id}/reports", json=body, headers=self.headers
        )
        assert response.status_code == 200, response.text
        for command in response.json()["commands"]:
            self.answers[command["id"]] = outcome


async def agent(hub: RunningHub, agent_id: str) -> Agent:
    token = await hub.hub.credentials.create_token(agent_id, Role.AGENT)
    return Agent(hub, agent_id, token)


async def settle(hub: RunningHub, clock: FakeClock, seconds: float = 5) -> None:
    await clock.advance(timedelta(seconds=seconds))
    await hub.hub.scheduler.run_once()
    await hub.hub.scheduler.drain()


async def get(hub: RunningHub, path: str, **params: Any) -> Any:
    response = await hub.client.get(path, params=params, headers=hub.auth(Role.VIEWER))
    assert response.status_code == 200, response.text
    return response.json()


async def test_memory_held_for_the_duration_runs_once_then_cooldown_blocks(
    hub: RunningHub, clock: FakeClock
) -> None:
    web = await agent(hub, "web-1")
    await web.report(95)
    await clock.advance(timedelta(minutes=5))
    await web.report(95)  # held 5 minutes: fires
    for _ in range(3):
        await settle(hub, clock)
        await web.report(95)
    await settle(hub, clock, 31)
    await web.report(40)  # verification sees memory back down
    await settle(hub, clock)
    history = (await get(hub, "/api/auto-recovery/history"))["items"]
    assert [(h["action_id"], h["target"], h["state"]) for h in history] == [
        (MEMORY, "web-1", "succeeded")
    ]
    # Still inside the 10-minute cooldown: a new breach held 5 minutes does not start another.
    await web.report(95)
    await clock.advance(timedelta(minutes=5))
    await web.report(95)
    await settle(hub, clock)
    assert len((await get(hub, "/api/auto-recovery/history"))["items"]) == 1
    stats = await get(hub, "/api/auto-recovery/stats", window="24h")
    item = history[0]
    by_hand = (
        clock.now().__class__.fromisoformat(item["finished_at"])
        - clock.now().__class__.fromisoformat(item["episode_started_at"])
    ).total_seconds()
    assert stats["success_rate"] == 1.0
    assert stats["mttr_seconds"]["mean"] == round(by_hand, 3)
    incident = await get(hub, f"/api/incidents/{item['incident_id']}")
    assert incident["state"] == "resolved"


async def test_after_max_retries_the_incident_needs_a_human(
    hub: RunningHub, clock: FakeClock
) -> None:
    web = await agent(hub, "web-2")
    await web.report(95, outcome="failed")
    await clock.advance(timedelta(minutes=5))
    await web.report(95, outcome="failed")
    for _ in range(8):
        await settle(hub, clock)
        await web.report(95, outcome="failed")
    history = (await get(hub, "/api/auto-recovery/history"))["items"]
    assert [h["state"] for h in history] == ["escalated", "rolled_back"]
    incident = await get(hub, f"/api/incidents/{history[0]['incident_id']}")
    assert incident["labels"]["needs_human"] == "true"
    stats = await get(hub, "/api/auto-recovery/stats")
    assert stats["success_rate"] == 0.0


async def test_twenty_hosts_never_more_than_five_running(hub: RunningHub, clock: FakeClock) -> None:
    agents = [await agent(hub, f"host-{i}") for i in range(20)]
    for a in agents:
        await a.report(95)
    await clock.advance(timedelta(minutes=5))
    peak = 0
    for _ in range(40):
        for a in agents:
            await a.report(95 if a.seq < 4 else 40)
        await settle(hub, clock, 10)
        active = (await get(hub, "/api/auto-recovery/active", state="running"))["items"]
        verifying = (await get(hub, "/api/auto-recovery/active", state="verifying"))["items"]
        peak = max(peak, len(active) + len(verifying))
    history = (await get(hub, "/api/auto-recovery/history", limit="100"))["items"]
    assert len(history) == 20
    assert {h["state"] for h in history} == {"succeeded"}
    # From the stored timeline: the intervals [started running, finished] never overlap > 5.
    spans = []
    for h in history:
        started = [s for s in h["steps"] if s["phase"] == "immediate"]
        assert started
    events = []
    for h in history:
        incident = await get(hub, f"/api/incidents/{h['incident_id']}")
        for e in incident.get("timeline", incident.get("events", [])):
            if e.get("kind") == "recovery" and e["data"].get("state") == "running":
                events.append((e["at"], 1))
            if e.get("kind") == "recovery" and e["data"].get("state") == "succeeded":
                events.append((e["at"], -1))
        spans.append(h["id"])
    running, most = 0, 0
    for _, delta in sorted(events, key=lambda x: (x[0], x[1])):
        running += delta
        most = max(most, running)
    assert events and most <= 5
    assert peak <= 5


async def test_endpoints_and_dry_run(hub: RunningHub) -> None:
    actions = (await get(hub, "/api/auto-recovery/actions"))["items"]
    assert {a["id"] for a in actions} >= {MEMORY, "deployment-failure", "disk-space"}
    assert all(a["provisioned"] for a in actions)
    admin = hub.auth(Role.ADMIN)
    custom = {
        "id": "custom-memory-cleanup",
        "name": "Custom Memory Cleanup",
        "conditions": {"metricThresholds": {"memory_percent": 90}, "duration": 5},
        "actions": {"immediate": [{"type": "agent_action", "target": "cleanup"}]},
        "maxRetries": 2,
        "cooldownPeriod": 10,
    }
    created = await hub.client.post("/api/auto-recovery/actions", json=custom, headers=admin)
    assert created.status_code == 201, created.text
    refused = await hub.client.put(
        f"/api/auto-recovery/actions/{MEMORY}", json={**custom, "id": MEMORY}, headers=admin
    )
    assert refused.status_code == 409
    dry = await hub.client.post(
        "/api/auto-recovery/test/custom-memory-cleanup",
        json={"host": "web-9"},
        headers=hub.auth(Role.OPERATOR),
    )
    assert dry.status_code == 200, dry.text
    assert dry.json()["safety"]["allowed"] is True
    assert dry.json()["steps"]["immediate"][0]["target"] == "cleanup"
    assert (await get(hub, "/api/auto-recovery/history"))["items"] == []
    off = await hub.client.post("/api/auto-recovery/disable", headers=admin)
    assert off.json()["enabled"] is False
    deleted = await hub.client.delete(
        "/api/auto-recovery/actions/custom-memory-cleanup", headers=admin
    )
    assert deleted.status_code == 204
    audit = await hub.client.get("/api/auto-recovery/audit", headers=admin)
    actions_done = {r["action"] for r in audit.json()["items"]}
    assert {"recovery.action.create", "recovery.disable", "recovery.action.delete"} <= actions_done
    overview = await get(hub, "/api/auto-recovery/overview")
    assert "recovery" in overview["subsystems"]


async def test_the_seeds_debug_command_dry_runs_the_memory_cleanup_action(hub: RunningHub) -> None:
    # curl -X POST …/api/auto-recovery/test/memory-cleanup -d '{"alertId": "test-alert-id"}'
    dry = await hub.client.post(
        "/api/auto-recovery/test/memory-cleanup",
        json={"alertId": "test-alert-id"},
        headers=hub.auth(Role.OPERATOR),
    )
    assert dry.status_code == 200, dry.text
    body = dry.json()
    assert (body["action"]["id"], body["alert_id"], body["target"]) == (
        MEMORY,
        "test-alert-id",
        None,
    )
    assert [s["target"] for s in body["steps"]["immediate"]] == ["clear-caches", "memory-cleanup"]
    assert body["safety"]["allowed"] is True
    assert (await get(hub, "/api/auto-recovery/history"))["items"] == []


async def test_running_an_action_for_real_needs_a_host(hub: RunningHub) -> None:
    refused = await hub.client.post(
        "/api/auto-recovery/test/memory-cleanup?execute=true",
        json={"alertId": "test-alert-id"},
        headers=hub.auth(Role.OPERATOR),
    )
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"]["details"][0]["field"] == "host"
