"""Incidents the agents cause: a silent agent (opened after 3 intervals, resolved by its next
report) and a healing action that gave up. Time is a FakeClock driving the real scheduler."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from bounceback.api.auth.roles import Role
from bounceback.api.clock import FakeClock
from bounceback.api.settings import HubSettings
from bounceback.api.store.tables import scheduled_work
from bounceback.api.testing import RunningHub, running_hub

pytestmark = pytest.mark.anyio

SendReport = Callable[..., Awaitable[httpx.Response]]
SETTLE_ROUNDS = 500  # x 10 ms: only exhausted when the background work never happens


@pytest.fixture
async def hub(db_settings: HubSettings, clock: FakeClock) -> AsyncIterator[RunningHub]:
    """This module's hub runs on the fake clock (the fixtures of conftest.py use it too)."""
    async with running_hub(db_settings, clock=clock) as running:
        yield running


async def agent_incidents(hub: RunningHub) -> list[dict[str, Any]]:
    response = await hub.client.get(
        "/api/incidents", params={"source": "bounceback-agent"}, headers=hub.auth(Role.VIEWER)
    )
    assert response.status_code == 200
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def eventually(probe: Callable[[], Awaitable[Any]], done: Callable[[Any], bool]) -> Any:
    """Wait (boundedly) for background work: the scheduler acts on the clock's move."""
    for _ in range(SETTLE_ROUNDS):
        value = await probe()
        if done(value):
            return value
        await asyncio.sleep(0.01)
    raise AssertionError(f"background work did not happen; last saw {value!r}")


def done(state: str | None) -> bool:
    return state == "done"


async def work_state(hub: RunningHub, key: str) -> str | None:
    async with hub.hub.db.read() as conn:
        state: str | None = await conn.scalar(
            sa.select(scheduled_work.c.state).where(scheduled_work.c.key == key)
        )
    return state


async def agent(hub: RunningHub, agent_id: str) -> dict[str, Any]:
    response = await hub.client.get(f"/api/agents/{agent_id}", headers=hub.auth(Role.VIEWER))
    body: dict[str, Any] = response.json()
    return body


async def test_a_silent_agent_opens_an_incident_that_its_next_report_resolves(
    hub: RunningHub, send_report: SendReport, clock: FakeClock
) -> None:
    await send_report("web-1", [], interval_seconds=10)
    await clock.advance(20)
    await send_report("web-1", [], interval_seconds=10)  # the check due at +30 s re-arms
    await clock.advance(15)
    assert await eventually(lambda: work_state(hub, "agent.silence:web-1:1"), done) == "done"
    assert await work_state(hub, "agent.silence:web-1:2") == "pending"
    assert await agent_incidents(hub) == []

    await clock.advance(16)  # 31 s after the last report: 3 intervals have passed
    [opened] = await eventually(lambda: agent_incidents(hub), lambda items: len(items) == 1)
    assert opened["dedup_key"] == "web-1:silent"
    assert opened["severity"] == "high" and opened["state"] == "triggered"
    assert opened["labels"]["host"] == "web-1"
    assert (await agent(hub, "web-1"))["silent"] is True
    health = await hub.client.get(
        "/api/auto-recovery/self-healing/health", headers=hub.auth(Role.VIEWER)
    )
    assert health.json()["hosts"][0]["status"] == "silent"

    await clock.advance(600)  # staying silent changes nothing
    await send_report("web-1", [], interval_seconds=10)
    [resolved] = await agent_incidents(hub)
    assert resolved["id"] == opened["id"] and resolved["state"] == "resolved"
    assert resolved["resolved_by"] == "agent:web-1"
    assert (await agent(hub, "web-1"))["silent"] is False


async def test_silence_comes_back_after_the_agent_goes_quiet_again(
    hub: RunningHub, send_report: SendReport, clock: FakeClock
) -> None:
    await send_report("web-1", [], interval_seconds=10)
    await clock.advance(31)
    await eventually(lambda: agent_incidents(hub), lambda items: len(items) == 1)
    await send_report("web-1", [], interval_seconds=10)
    await clock.advance(31)
    items = await eventually(lambda: agent_incidents(hub), lambda items: len(items) == 2)
    assert [item["state"] for item in items] == ["triggered", "resolved"]


async def test_a_shorter_interval_brings_the_silence_check_forward(
    hub: RunningHub, send_report: SendReport, clock: FakeClock
) -> None:
    await send_report("web-1", [], interval_seconds=600)
    await send_report("web-1", [], interval_seconds=10)
    await clock.advance(31)
    [opened] = await eventually(lambda: agent_incidents(hub), lambda items: len(items) == 1)
    assert opened["dedup_key"] == "web-1:silent"


def attempt(attempt_id: str, outcome: str, **fields: Any) -> dict[str, Any]:
    at = datetime(2026, 1, 1, tzinfo=UTC).isoformat()
    return {
        "kind": "healing",
        "attempt": {
            "attempt_id": attempt_id,
            "action": "restart-app",
            "type": "restart_service",
            "target": "app.service",
            "trigger": "supervisor:app",
            "outcome": outcome,
            "started_at": at,
            "finished_at": at,
            **fields,
        },
    }


async def test_an_agent_reporting_every_second_has_30_seconds_before_it_is_silent(
    hub: RunningHub, send_report: SendReport, clock: FakeClock
) -> None:
    await send_report("web-1", [], interval_seconds=1)
    await clock.advance(29)
    await send_report("web-1", [], interval_seconds=1)
    await clock.advance(29)
    assert await eventually(lambda: work_state(hub, "agent.silence:web-1:1"), done) == "done"
    assert await agent_incidents(hub) == []
    await clock.advance(2)
    await eventually(lambda: agent_incidents(hub), lambda items: len(items) == 1)


async def test_a_process_that_always_dies_ends_in_one_incident(
    hub: RunningHub, send_report: SendReport
) -> None:
    tries = [attempt(f"try-{n}", "failed", reason="exited 1") for n in range(3)]
    gave_up = attempt("give-up", "gave_up", reason="3 restarts in 60 s", escalate=True)
    ack = await send_report("web-1", [*tries, gave_up])
    assert ack.status_code == 200, ack.text
    [incident] = await agent_incidents(hub)
    assert incident["dedup_key"] == "web-1:healing:restart-app:app.service"
    assert incident["severity"] == "high"
    assert "gave up" in incident["summary"] and "3 restarts in 60 s" in incident["summary"]
    assert incident["labels"]["action"] == "restart-app"

    history = await hub.client.get(
        "/api/auto-recovery/self-healing/history", headers=hub.auth(Role.VIEWER)
    )
    outcomes = [(item["outcome"], item["incident_id"]) for item in history.json()["items"]]
    assert outcomes == [("gave_up", incident["id"])] + [("failed", None)] * 3

    # A replay opens nothing new; the next give-up on the same target adds to the incident.
    await send_report("web-1", [{**gave_up, "seq": 4}])
    await send_report("web-1", [attempt("give-up-2", "gave_up", escalate=True)])
    [same] = await agent_incidents(hub)
    assert same["id"] == incident["id"] and same["alert_count"] == 2


async def test_an_escalating_failure_opens_a_medium_incident(
    hub: RunningHub, send_report: SendReport
) -> None:
    await send_report("web-1", [attempt("a1", "failed", escalate=True, target=None)])
    [incident] = await agent_incidents(hub)
    assert incident["severity"] == "medium"
    assert incident["dedup_key"] == "web-1:healing:restart-app:-"
