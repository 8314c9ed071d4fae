"""Every mutating call leaves an audit record; admins read them with filters and cursors."""

from __future__ import annotations

import pytest

from bounceback.api.auth.roles import Role
from bounceback.api.testing import RunningHub

pytestmark = pytest.mark.anyio

AUDIT = "/api/auto-recovery/audit"


async def test_mutating_calls_are_audited_with_actor_outcome_and_request_id(
    hub: RunningHub,
) -> None:
    alert = {"source": "s", "summary": "x", "fingerprint": "f"}
    created = await hub.client.post(
        "/api/alerts", json=alert, headers={**hub.key("generic"), "X-Request-ID": "req-1"}
    )
    incident_id = created.json()["incident_id"]
    operator = {**hub.auth(Role.OPERATOR), "X-Request-ID": "req-2"}
    await hub.client.post(f"/api/incidents/{incident_id}/acknowledge", headers=operator)
    await hub.client.post(
        f"/api/incidents/{incident_id}/acknowledge",
        headers={**hub.auth(Role.OPERATOR), "X-Request-ID": "req-3"},
    )
    response = await hub.client.get(AUDIT, headers=hub.auth(Role.ADMIN))
    records = {item["request_id"]: item for item in response.json()["items"]}
    assert records["req-1"]["actor"] == "integration:test-generic"
    assert records["req-1"]["action"] == "alert.generic"
    assert records["req-1"]["target"] == f"incident:{incident_id}"
    assert records["req-2"]["action"] == "incident.acknowledge"
    assert records["req-2"]["actor"] == "token:test-operator"
    assert records["req-2"]["outcome"] == "ok"
    assert records["req-3"]["outcome"] == "refused"


async def test_audit_filters_and_cursor(hub: RunningHub) -> None:
    for n in range(5):
        await hub.client.post(
            "/api/alerts",
            json={"source": "s", "summary": "x", "fingerprint": f"f{n}"},
            headers=hub.key("generic"),
        )
    await hub.client.post("/api/incidents/1/resolve", headers=hub.auth(Role.OPERATOR))
    only = await hub.client.get(f"{AUDIT}?action=incident.resolve", headers=hub.auth(Role.ADMIN))
    assert [item["action"] for item in only.json()["items"]] == ["incident.resolve"]
    first = await hub.client.get(f"{AUDIT}?limit=4", headers=hub.auth(Role.ADMIN))
    second = await hub.client.get(
        f"{AUDIT}?limit=4&cursor={first.json()['next_cursor']}", headers=hub.auth(Role.ADMIN)
    )
    ids = [item["id"] for item in first.json()["items"] + second.json()["items"]]
    assert ids == sorted(ids, reverse=True)
    assert len(set(ids)) == 6


async def test_audit_is_admin_only(hub: RunningHub) -> None:
    response = await hub.client.get(AUDIT, headers=hub.auth(Role.OPERATOR))
    assert response.status_code == 403


async def test_audit_time_filter_validates(hub: RunningHub) -> None:
    response = await hub.client.get(f"{AUDIT}?since=yesterday", headers=hub.auth(Role.ADMIN))
    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["field"] == "since"
