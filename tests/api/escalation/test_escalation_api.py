"""The escalation and on-call endpoints: seed paths, CRUD for admins, errors naming the field."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from bounceback.api.auth.roles import Role
from bounceback.api.settings import HubSettings
from bounceback.api.testing import RunningHub, running_hub
from tests.api.escalation.conftest import config

pytestmark = pytest.mark.anyio
ESC = "/api/auto-recovery/escalation"


@pytest.fixture
async def hub(db_settings: HubSettings) -> AsyncIterator[RunningHub]:
    schedule = {
        "id": "primary",
        "name": "Primary",
        "timezone": "Europe/Paris",
        "layers": [{"start": "2025-01-06T09:00:00", "handoff": "weekly", "people": ["ann", "bob"]}],
    }
    settings = db_settings.model_copy(update={"escalation": config(schedules=[schedule])})
    async with running_hub(settings) as running:
        yield running


async def audit_actions(hub: RunningHub) -> list[str]:
    response = await hub.client.get("/api/auto-recovery/audit", headers=hub.auth(Role.ADMIN))
    return [item["action"] for item in response.json()["items"]]


async def test_status_lists_levels_channels_and_counts(hub: RunningHub) -> None:
    response = await hub.client.get(f"{ESC}/status", headers=hub.auth(Role.VIEWER))
    body = response.json()
    assert [lv["timeout_minutes"] for lv in body["levels"]] == [15, 30, 45, 60, 90]
    assert body["channels"]["email"]["enabled"] is True
    assert body["channels"]["sms"] == {
        "available": False,
        "enabled": False,
        "switch": "SMS_NOTIFICATIONS_ENABLED",
    }
    assert (body["policies"], body["people"], body["schedules"]) == (1, 5, 1)


async def test_acknowledge_and_resolve_through_the_seed_paths(hub: RunningHub) -> None:
    alert = {"source": "t", "summary": "disk full", "severity": "high"}
    created = await hub.client.post("/api/alerts", json=alert, headers=hub.auth(Role.OPERATOR))
    incident_id = created.json()["incident_id"]
    for _ in range(200):
        active = (await hub.client.get(f"{ESC}/active", headers=hub.auth(Role.VIEWER))).json()
        if active["items"]:
            break
        await hub.hub.scheduler.run_once()
    [item] = active["items"]
    assert (item["incident_id"], item["level"], item["policy"]) == (incident_id, "L1", "default")

    acked = await hub.client.post(
        f"{ESC}/{incident_id}/acknowledge", headers=hub.auth(Role.OPERATOR)
    )
    assert acked.status_code == 200, acked.text
    assert (acked.json()["status"], acked.json()["acknowledged_via"]) == ("acknowledged", "api")
    again = await hub.client.post(
        f"{ESC}/{incident_id}/acknowledge", headers=hub.auth(Role.OPERATOR)
    )
    assert again.status_code == 409
    resolved = await hub.client.post(
        f"{ESC}/{incident_id}/resolve",
        json={"note": "freed space"},
        headers=hub.auth(Role.OPERATOR),
    )
    assert resolved.json()["status"] == "resolved"
    missing = await hub.client.post(f"{ESC}/999/acknowledge", headers=hub.auth(Role.OPERATOR))
    assert missing.status_code == 404
    assert {"escalation.acknowledge", "escalation.resolve"} <= set(await audit_actions(hub))


async def test_admins_manage_people_and_policies_and_writes_are_audited(hub: RunningHub) -> None:
    admin = hub.auth(Role.ADMIN)
    person = {"id": "zoe", "name": "Zoe", "email": "zoe@example.com", "channels": ["email"]}
    created = await hub.client.post("/api/oncall/people", json=person, headers=admin)
    assert created.status_code == 201, created.text
    assert created.json()["provisioned"] is False
    policy = {
        "id": "web",
        "name": "Web",
        "route": {"services": ["web"]},
        "levels": [{"name": "L1", "timeout_minutes": 5, "targets": ["person:zoe"]}],
        "repeat": "until_acknowledged",
    }
    assert (await hub.client.post(f"{ESC}/policies", json=policy, headers=admin)).status_code == 201
    listed = (await hub.client.get(f"{ESC}/policies", headers=hub.auth(Role.VIEWER))).json()
    assert [p["id"] for p in listed["items"]] == ["default", "web"]

    in_use = await hub.client.delete("/api/oncall/people/zoe", headers=admin)
    assert in_use.status_code == 409 and "policy web" in in_use.json()["error"]["message"]
    changed = {**person, "name": "Zoe Q"}
    assert (
        await hub.client.put("/api/oncall/people/zoe", json=changed, headers=admin)
    ).status_code == 200
    assert (await hub.client.delete(f"{ESC}/policies/web", headers=admin)).status_code == 204
    assert (await hub.client.delete("/api/oncall/people/zoe", headers=admin)).status_code == 204
    assert {
        "oncall.person.create",
        "oncall.person.update",
        "oncall.person.delete",
        "oncall.policy.create",
        "oncall.policy.delete",
    } <= set(await audit_actions(hub))


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/oncall/people", {"id": "x", "name": "X", "phone": "555"}, "phone"),
        ("/api/oncall/people", {"id": "Bad Id", "name": "X"}, "id"),
        (
            f"{ESC}/policies",
            {"id": "p", "name": "P", "levels": [{"name": "L1", "targets": ["person:nobody"]}]},
            "levels[0].targets[0]",
        ),
        (
            f"{ESC}/policies",
            {"id": "p", "name": "P", "levels": [{"name": "L1", "targets": ["pager:x"]}]},
            "levels[0].targets[0]",
        ),
        (
            "/api/oncall/schedules",
            {
                "id": "s",
                "name": "S",
                "timezone": "Mars/Olympus",
                "layers": [{"start": "2026-01-01T00:00:00", "people": ["ann"]}],
            },
            "timezone",
        ),
    ],
)
async def test_bad_input_gets_422_naming_the_field(
    hub: RunningHub, path: str, body: dict[str, Any], field: str
) -> None:
    response = await hub.client.post(path, json=body, headers=hub.auth(Role.ADMIN))
    assert response.status_code == 422, response.text
    assert field in [d["field"] for d in response.json()["error"]["details"]]


async def test_provisioned_objects_are_read_only_through_the_api(hub: RunningHub) -> None:
    ann = (await hub.client.get("/api/oncall/people/ann", headers=hub.auth(Role.VIEWER))).json()
    assert ann["provisioned"] is True
    ann.pop("provisioned")
    response = await hub.client.put(
        "/api/oncall/people/ann", json=ann, headers=hub.auth(Role.ADMIN)
    )
    assert response.status_code == 409 and "hub.toml" in response.json()["error"]["message"]


async def test_oncall_now_and_shifts(hub: RunningHub) -> None:
    now = (await hub.client.get("/api/oncall/now", headers=hub.auth(Role.VIEWER))).json()
    [primary] = now["items"]
    assert primary["on_call"]["person"] in ("ann", "bob")
    assert primary["person"]["email"].endswith("@example.com")
    shifts = await hub.client.get(
        "/api/oncall/schedules/primary/shifts",
        params={"from": "2026-03-23T00:00:00Z", "to": "2026-04-06T00:00:00Z"},
        headers=hub.auth(Role.VIEWER),
    )
    body = shifts.json()
    # Monday 09:00 Paris: 08:00 UTC before the DST change, 07:00 UTC after it.
    assert [s["start"] for s in body["shifts"]] == [
        "2026-03-23T00:00:00+00:00",
        "2026-03-23T08:00:00+00:00",
        "2026-03-30T07:00:00+00:00",
    ]
    bad = await hub.client.get(
        "/api/oncall/schedules/primary/shifts",
        params={"from": "yesterday"},
        headers=hub.auth(Role.VIEWER),
    )
    assert bad.status_code == 422 and bad.json()["error"]["details"][0]["field"] == "from"
    unknown = await hub.client.get(
        "/api/oncall/schedules/nope/shifts", headers=hub.auth(Role.VIEWER)
    )
    assert unknown.status_code == 404
