"""The seed's Self-Healing Management endpoints over a fleet of agents reporting to a real hub."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from bounceback.api.auth.roles import Role
from bounceback.api.testing import RunningHub

pytestmark = pytest.mark.anyio

SendReport = Callable[..., Awaitable[httpx.Response]]
BASE = "/api/auto-recovery/self-healing"


def healing(attempt_id: str, outcome: str, *, seq: int = 0, **fields: Any) -> dict[str, Any]:
    started = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    attempt = {
        "attempt_id": attempt_id,
        "action": "restart-nginx",
        "type": "restart_service",
        "target": "nginx.service",
        "trigger": "check:nginx-up",
        "outcome": outcome,
        "started_at": started.isoformat(),
        **fields,
    }
    if outcome != "started":
        attempt.setdefault("finished_at", (started + timedelta(seconds=4)).isoformat())
    return {"kind": "healing", "attempt": attempt, **({"seq": seq} if seq else {})}


async def get(hub: RunningHub, path: str, **params: str) -> Any:
    response = await hub.client.get(f"{BASE}/{path}", params=params, headers=hub.auth(Role.VIEWER))
    assert response.status_code == 200, response.text
    return response.json()


async def test_an_attempt_is_active_until_it_reports_its_outcome(
    hub: RunningHub, send_report: SendReport
) -> None:
    await send_report("web-1", [healing("a1", "started")])
    [active] = (await get(hub, "active"))["items"]
    assert active["attempt_id"] == "a1" and active["host"] == "web-1"
    assert active["hostname"] == "web-1.example.net"

    after: dict[str, Any] = {"after": {"memory_percent": 41.5}, "before": {"memory_percent": 93.0}}
    await send_report("web-1", [healing("a1", "succeeded", **after)])
    assert (await get(hub, "active"))["items"] == []
    [done] = (await get(hub, "history"))["items"]
    assert done["outcome"] == "succeeded"
    assert done["duration_seconds"] == 4.0
    assert done["before"] == {"memory_percent": 93.0}


async def test_a_late_started_event_does_not_reopen_a_finished_attempt(
    hub: RunningHub, send_report: SendReport
) -> None:
    assert (await send_report("web-1", [healing("a1", "failed", seq=2)])).status_code == 200
    assert (await send_report("web-1", [healing("a1", "started", seq=1)])).status_code == 200
    [attempt] = (await get(hub, "history"))["items"]
    assert attempt["outcome"] == "failed"
    assert (await get(hub, "active"))["items"] == []


async def test_history_filters_and_pages(hub: RunningHub, send_report: SendReport) -> None:
    await send_report("web-1", [healing(f"a{n}", "succeeded") for n in range(3)])
    await send_report("web-2", [healing("b1", "skipped", reason="cooldown")])
    first = await get(hub, "history", limit="2")
    assert [item["attempt_id"] for item in first["items"]] == ["b1", "a2"]
    rest = await get(hub, "history", limit="2", cursor=first["next_cursor"])
    assert [item["attempt_id"] for item in rest["items"]] == ["a1", "a0"]
    assert [i["attempt_id"] for i in (await get(hub, "history", host="web-2"))["items"]] == ["b1"]
    skipped = await get(hub, "history", outcome="skipped")
    assert [item["reason"] for item in skipped["items"]] == ["cooldown"]
    bad = await hub.client.get(
        f"{BASE}/history", params={"outcome": "meh"}, headers=hub.auth(Role.VIEWER)
    )
    assert bad.status_code == 422 and bad.json()["error"]["details"][0]["field"] == "outcome"


async def test_health_per_host_and_for_the_fleet(hub: RunningHub, send_report: SendReport) -> None:
    await send_report(
        "web-1",
        [{"kind": "sample", "metrics": {"cpu_percent": 20, "memory_percent": 50}}],
    )
    await send_report(
        "web-2",
        [
            {
                "kind": "sample",
                "metrics": {"cpu_percent": 40, "memory_percent": 90, "disk_percent:/var": 95},
            },
            {
                "kind": "check",
                "readings": [
                    {"check": "nginx-up", "type": "http", "status": "failing", "value": 502}
                ],
            },
        ],
    )
    body = await get(hub, "health")
    hosts = {entry["host"]: entry for entry in body["hosts"]}
    assert hosts["web-1"]["status"] == "healthy"
    assert hosts["web-2"]["status"] == "unhealthy"
    assert hosts["web-2"]["failing_checks"] == ["nginx-up"]
    assert hosts["web-2"]["high_metrics"] == ["disk_percent:/var", "memory_percent"]
    assert hosts["web-2"]["disk_percent"] == 95
    fleet = body["fleet"]
    assert fleet["status"] == "unhealthy"
    assert fleet["by_status"]["healthy"] == 1 and fleet["hosts"] == 2
    assert fleet["metrics"]["memory_percent"] == {"avg": 70.0, "max": 90}
    one = await get(hub, "health", host="web-1")
    assert [entry["host"] for entry in one["hosts"]] == ["web-1"]
    missing = await hub.client.get(
        f"{BASE}/health", params={"host": "web-9"}, headers=hub.auth(Role.VIEWER)
    )
    assert missing.status_code == 404


async def test_an_older_sample_does_not_replace_a_newer_one(
    hub: RunningHub, send_report: SendReport
) -> None:
    late = "2026-02-01T00:00:00Z"
    early = "2026-01-01T00:00:00Z"
    await send_report(
        "web-1", [{"kind": "sample", "seq": 2, "at": late, "metrics": {"cpu_percent": 5}}]
    )
    await send_report(
        "web-1", [{"kind": "sample", "seq": 1, "at": early, "metrics": {"cpu_percent": 99}}]
    )
    [host] = (await get(hub, "health"))["hosts"]
    assert host["cpu_percent"] == 5


async def test_status_counts_agents_and_attempts(hub: RunningHub, send_report: SendReport) -> None:
    await send_report("web-1", [healing("a1", "started")])
    await send_report("web-2", [healing("b1", "gave_up")], self_healing_enabled=False, dry_run=True)
    body = await get(hub, "status")
    assert body["enabled"] is True
    assert body["switch"]["source"] == "config"
    assert body["agents"]["total"] == 2
    assert body["agents"]["self_healing_disabled"] == 1
    assert body["agents"]["dry_run"] == 1
    assert body["attempts"]["active"] == 1
    assert body["thresholds"] == {"memory_percent": 85, "cpu_percent": 80, "disk_percent": 90}


async def test_disable_for_the_fleet_commands_every_agent_and_later_ones_too(
    hub: RunningHub, send_report: SendReport
) -> None:
    await send_report("web-1", [])
    await send_report("web-2", [])
    disabled = await hub.client.post(f"{BASE}/disable", headers=hub.auth(Role.ADMIN))
    assert disabled.status_code == 200, disabled.text
    assert disabled.json()["scope"] == "fleet"
    assert sorted(c["host"] for c in disabled.json()["commands"]) == ["web-1", "web-2"]
    status = await get(hub, "status")
    assert status["enabled"] is False
    assert status["switch"]["changed_by"] == "token:test-admin"
    assert status["agents"]["not_yet_in_line"] == ["web-1", "web-2"]

    [command] = (await send_report("web-1", [])).json()["commands"]
    assert command["kind"] == "disable_self_healing"
    # An agent that registers later is told too, in its first ack.
    [late] = (await send_report("web-3", [])).json()["commands"]
    assert late["kind"] == "disable_self_healing" and late["issued_by"] == "hub:reconcile"
    # Not again while the agent has not answered, nor once it reports the state the hub wants.
    assert (await send_report("web-3", [])).json()["commands"] == []
    result = {"kind": "command_result", "command_id": late["id"], "outcome": "done"}
    assert (await send_report("web-3", [result], self_healing_enabled=False)).json()[
        "commands"
    ] == []


async def test_an_agent_that_refuses_is_not_nagged(
    hub: RunningHub, send_report: SendReport
) -> None:
    await hub.client.post(f"{BASE}/disable", headers=hub.auth(Role.ADMIN))
    [command] = (await send_report("db-1", [])).json()["commands"]
    refusal = {"kind": "command_result", "command_id": command["id"], "outcome": "refused"}
    assert (await send_report("db-1", [refusal])).json()["commands"] == []
    assert (await send_report("db-1", [])).json()["commands"] == []


async def test_enable_or_disable_one_host(hub: RunningHub, send_report: SendReport) -> None:
    await send_report("web-1", [])
    await send_report("web-2", [])
    response = await hub.client.post(
        f"{BASE}/disable", json={"host": "web-2"}, headers=hub.auth(Role.ADMIN)
    )
    assert response.json()["scope"] == "host"
    assert [c["host"] for c in response.json()["commands"]] == ["web-2"]
    assert (await get(hub, "status"))["enabled"] is True  # the fleet switch is untouched
    listed = (await hub.client.get("/api/agents", headers=hub.auth(Role.VIEWER))).json()
    assert {a["id"]: a["desired_self_healing"] for a in listed["items"]} == {
        "web-1": None,
        "web-2": False,
    }
    missing = await hub.client.post(
        f"{BASE}/enable", json={"host": "web-9"}, headers=hub.auth(Role.ADMIN)
    )
    assert missing.status_code == 404
    bad = await hub.client.post(
        f"{BASE}/enable", json={"host": "no spaces"}, headers=hub.auth(Role.ADMIN)
    )
    assert bad.status_code == 422 and bad.json()["error"]["details"][0]["field"] == "host"


async def test_switching_needs_an_admin(hub: RunningHub) -> None:
    for path in ("enable", "disable"):
        response = await hub.client.post(f"{BASE}/{path}", headers=hub.auth(Role.OPERATOR))
        assert response.status_code == 403


async def test_the_overview_counts_agents_and_circuits(
    hub: RunningHub, send_report: SendReport
) -> None:
    breaker = {"dependency": "postgres", "kind": "database", "state": "open", "failures": 5}
    await send_report("web-1", [healing("a1", "started")], breakers=[breaker])
    overview = await hub.client.get("/api/auto-recovery/overview", headers=hub.auth(Role.VIEWER))
    subsystems = overview.json()["subsystems"]
    assert subsystems["self_healing"] == {
        "status": "enabled",
        "agents": 1,
        "silent_agents": 0,
        "active_attempts": 1,
    }
    assert subsystems["circuit_breakers"] == {
        "status": "running",
        "circuits": 1,
        "open": 1,
        "half_open": 0,
    }
