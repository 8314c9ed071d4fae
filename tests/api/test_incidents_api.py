"""People acting on incidents through the API: list, detail, acknowledge, resolve, silence."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bounceback.api.auth.roles import Role
from bounceback.api.testing import RunningHub

pytestmark = pytest.mark.anyio


async def open_incident(hub: RunningHub, fingerprint: str, **fields: Any) -> int:
    alert = {"source": "test", "summary": f"problem {fingerprint}", "fingerprint": fingerprint}
    response = await hub.client.post(
        "/api/alerts", json={**alert, **fields}, headers=hub.key("generic")
    )
    assert response.status_code == 202
    incident_id: int = response.json()["incident_id"]
    return incident_id


async def test_acknowledge_then_resolve_records_who_and_when(hub: RunningHub) -> None:
    incident_id = await open_incident(hub, "a")
    ack = await hub.client.post(
        f"/api/incidents/{incident_id}/acknowledge", headers=hub.auth(Role.OPERATOR)
    )
    assert ack.status_code == 200
    assert ack.json()["state"] == "acknowledged"
    assert ack.json()["acknowledged_by"] == "token:test-operator"
    resolved = await hub.client.post(
        f"/api/incidents/{incident_id}/resolve",
        json={"note": "restarted the pool"},
        headers=hub.auth(Role.OPERATOR),
    )
    assert resolved.status_code == 200
    body = resolved.json()
    assert body["state"] == "resolved"
    assert body["timeline"][-1]["data"] == {"note": "restarted the pool"}


async def test_acknowledging_twice_or_after_resolve_is_a_conflict(hub: RunningHub) -> None:
    incident_id = await open_incident(hub, "b")
    path = f"/api/incidents/{incident_id}"
    assert (
        await hub.client.post(f"{path}/acknowledge", headers=hub.auth(Role.OPERATOR))
    ).is_success
    again = await hub.client.post(f"{path}/acknowledge", headers=hub.auth(Role.OPERATOR))
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "conflict"
    assert (await hub.client.post(f"{path}/resolve", headers=hub.auth(Role.OPERATOR))).is_success
    late = await hub.client.post(f"{path}/acknowledge", headers=hub.auth(Role.OPERATOR))
    assert late.status_code == 409


async def test_acting_on_a_missing_incident_is_404(hub: RunningHub) -> None:
    response = await hub.client.post("/api/incidents/999/resolve", headers=hub.auth(Role.OPERATOR))
    assert response.status_code == 404


async def test_silence_by_duration_or_until(hub: RunningHub) -> None:
    incident_id = await open_incident(hub, "c")
    path = f"/api/incidents/{incident_id}/silence"
    by_duration = await hub.client.post(
        path, json={"duration": 3600}, headers=hub.auth(Role.OPERATOR)
    )
    assert by_duration.status_code == 200
    until = datetime.fromisoformat(by_duration.json()["silenced_until"])
    assert timedelta(minutes=59) < until - datetime.now(UTC) <= timedelta(hours=1)
    later = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    by_until = await hub.client.post(path, json={"until": later}, headers=hub.auth(Role.OPERATOR))
    assert by_until.status_code == 200
    assert by_until.json()["timeline"][-1]["kind"] == "silenced"


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"duration": -5},
        {"until": "2020-01-01T00:00:00Z"},
        {"until": "2030-01-01T00:00:00"},
        {"duration": 60, "until": "2030-01-01T00:00:00Z"},
        {"duration": "soon"},
    ],
)
async def test_bad_silence_requests_are_refused(hub: RunningHub, body: dict[str, Any]) -> None:
    incident_id = await open_incident(hub, "d")
    response = await hub.client.post(
        f"/api/incidents/{incident_id}/silence", json=body, headers=hub.auth(Role.OPERATOR)
    )
    assert response.status_code in (409, 422), response.text
    assert "error" in response.json()


async def test_list_filters_and_paginates_newest_first(hub: RunningHub) -> None:
    ids = [
        await open_incident(hub, f"p{n}", severity="critical" if n % 2 else "low") for n in range(5)
    ]
    page = await hub.client.get("/api/incidents?limit=2", headers=hub.auth(Role.VIEWER))
    first = page.json()
    assert [item["id"] for item in first["items"]] == ids[::-1][:2]
    rest = await hub.client.get(
        f"/api/incidents?limit=2&cursor={first['next_cursor']}", headers=hub.auth(Role.VIEWER)
    )
    assert [item["id"] for item in rest.json()["items"]] == ids[::-1][2:4]
    critical = await hub.client.get(
        "/api/incidents?severity=critical", headers=hub.auth(Role.VIEWER)
    )
    assert {item["id"] for item in critical.json()["items"]} == {ids[1], ids[3]}


async def test_state_filter(hub: RunningHub) -> None:
    first = await open_incident(hub, "s1")
    await open_incident(hub, "s2")
    await hub.client.post(f"/api/incidents/{first}/acknowledge", headers=hub.auth(Role.OPERATOR))
    acked = await hub.client.get("/api/incidents?state=acknowledged", headers=hub.auth(Role.VIEWER))
    assert [item["id"] for item in acked.json()["items"]] == [first]


async def test_overview_counts_incidents_by_state(hub: RunningHub) -> None:
    first = await open_incident(hub, "o1", severity="critical")
    await open_incident(hub, "o2")
    await hub.client.post(f"/api/incidents/{first}/resolve", headers=hub.auth(Role.OPERATOR))
    response = await hub.client.get("/api/auto-recovery/overview", headers=hub.auth(Role.VIEWER))
    incidents = response.json()["subsystems"]["incidents"]
    assert incidents["total"] == 2
    assert incidents["open"] == 1
    assert incidents["by_state"]["resolved"] == 1
    assert response.json()["subsystems"]["scheduled_work"]["status"] == "running"


async def test_overview_covers_every_subsystem(hub: RunningHub) -> None:
    response = await hub.client.get("/api/auto-recovery/overview", headers=hub.auth(Role.VIEWER))
    subsystems = response.json()["subsystems"]
    assert {
        "incidents",
        "intake",
        "scheduled_work",
        "self_healing",
        "circuit_breakers",
        "recovery",
        "degradation",
        "escalation",
        "deployments",
    } <= set(subsystems)
    assert subsystems["escalation"]["status"] == "idle (no policy)"
    assert subsystems["deployments"]["status"] == "running"
    assert subsystems["deployments"]["active"] == 0


async def test_readyz_reports_the_store_and_loops(hub: RunningHub) -> None:
    response = await hub.client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["checks"] == {"store": "ok", "intake": "ok", "scheduler": "ok"}
