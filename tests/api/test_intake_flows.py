"""Alerts in, incidents out: the acceptance flows of Alertmanager, PagerDuty and generic intake."""

from __future__ import annotations

from typing import Any

import pytest

from bounceback.api.auth.roles import Role
from bounceback.api.demo import alertmanager_hook, pagerduty_event
from bounceback.api.testing import RunningHub

pytestmark = pytest.mark.anyio

AM = "/api/integrations/alertmanager"
PD = "/api/integrations/pagerduty/v2/enqueue"


async def incidents(hub: RunningHub, **params: str) -> list[dict[str, Any]]:
    response = await hub.client.get("/api/incidents", params=params, headers=hub.auth(Role.VIEWER))
    assert response.status_code == 200
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def incident(hub: RunningHub, incident_id: int) -> dict[str, Any]:
    response = await hub.client.get(f"/api/incidents/{incident_id}", headers=hub.auth(Role.VIEWER))
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


async def test_alertmanager_firing_opens_one_incident_and_resolved_closes_it(
    hub: RunningHub,
) -> None:
    firing = alertmanager_hook("HighMemoryUsage", "web-1:9100", "critical", "firing", "Memory")
    first = await hub.client.post(AM, json=firing, headers=hub.key("alertmanager"))
    again = await hub.client.post(AM, json=firing, headers=hub.key("alertmanager"))
    assert first.status_code == again.status_code == 202
    assert first.json()["action"] == "created"
    assert again.json()["action"] == "updated"
    assert again.json()["incident_id"] == first.json()["incident_id"]
    assert len(await incidents(hub)) == 1

    resolved = alertmanager_hook("HighMemoryUsage", "web-1:9100", "critical", "resolved", "Memory")
    answer = await hub.client.post(AM, json=resolved, headers=hub.key("alertmanager"))
    assert answer.status_code == 202
    detail = await incident(hub, first.json()["incident_id"])
    assert detail["state"] == "resolved"
    assert detail["severity"] == "critical"
    assert detail["alert_count"] == 2
    assert [event["kind"] for event in detail["timeline"]] == ["triggered", "alert", "resolved"]


async def test_alertmanager_parsing_ignores_unknown_and_newer_fields(hub: RunningHub) -> None:
    hook = alertmanager_hook("Latency", "api-1", "warning", "firing", "p99 high")
    hook.update(
        notification_reason="first notification",
        routeLabels={"team": "sre"},
        somethingFromTheFuture={"x": [1, 2]},
    )
    response = await hub.client.post(AM, json=hook, headers=hub.key("alertmanager"))
    assert response.status_code == 202
    assert response.json()["action"] == "created"


async def test_alertmanager_groups_make_separate_incidents(hub: RunningHub) -> None:
    for instance in ("web-1", "web-2"):
        hook = alertmanager_hook("Down", instance, "critical", "firing", f"{instance} down")
        assert (await hub.client.post(AM, json=hook, headers=hub.key("alertmanager"))).is_success
    assert len(await incidents(hub, state="triggered")) == 2


async def test_pagerduty_trigger_acknowledge_resolve_moves_one_incident(hub: RunningHub) -> None:
    key = hub.keys["pagerduty"]
    trigger = await hub.client.post(PD, json=pagerduty_event(key, "trigger", "db-lag"))
    repeat = await hub.client.post(PD, json=pagerduty_event(key, "trigger", "db-lag"))
    assert trigger.status_code == repeat.status_code == 202
    assert trigger.json()["status"] == "success"
    assert trigger.json()["dedup_key"] == "db-lag"
    incident_id = trigger.json()["incident_id"]
    assert repeat.json()["incident_id"] == incident_id

    ack = await hub.client.post(PD, json=pagerduty_event(key, "acknowledge", "db-lag"))
    assert ack.status_code == 202
    assert (await incident(hub, incident_id))["state"] == "acknowledged"

    resolve = await hub.client.post(PD, json=pagerduty_event(key, "resolve", "db-lag"))
    assert resolve.status_code == 202
    detail = await incident(hub, incident_id)
    assert detail["state"] == "resolved"
    assert [event["kind"] for event in detail["timeline"]] == [
        "triggered",
        "alert",
        "acknowledged",
        "resolved",
    ]
    assert len(await incidents(hub)) == 1


async def test_pagerduty_trigger_after_resolve_opens_a_new_incident(hub: RunningHub) -> None:
    key = hub.keys["pagerduty"]
    first = await hub.client.post(PD, json=pagerduty_event(key, "trigger", "k"))
    await hub.client.post(PD, json=pagerduty_event(key, "resolve", "k"))
    late_ack = await hub.client.post(PD, json=pagerduty_event(key, "acknowledge", "k"))
    assert late_ack.json()["action"] == "ignored"
    second = await hub.client.post(PD, json=pagerduty_event(key, "trigger", "k"))
    assert second.json()["action"] == "created"
    assert second.json()["incident_id"] != first.json()["incident_id"]


async def test_pagerduty_trigger_without_dedup_key_gets_a_fresh_key(hub: RunningHub) -> None:
    event = pagerduty_event(hub.keys["pagerduty"], "trigger", "x")
    del event["dedup_key"]
    first = await hub.client.post(PD, json=event)
    second = await hub.client.post(PD, json=event)
    assert first.json()["dedup_key"] != second.json()["dedup_key"]
    assert first.json()["incident_id"] != second.json()["incident_id"]


async def test_pagerduty_unknown_routing_key_is_refused(hub: RunningHub) -> None:
    response = await hub.client.post(PD, json=pagerduty_event("0" * 32, "trigger", "x"))
    assert response.status_code == 401
    assert response.json()["status"] == "invalid event"
    assert response.json()["error"]["code"] == "unauthorized"
    assert await incidents(hub) == []


async def test_pagerduty_invalid_event_is_400_with_errors(hub: RunningHub) -> None:
    event = {"routing_key": hub.keys["pagerduty"], "event_action": "acknowledge"}
    response = await hub.client.post(PD, json=event)
    assert response.status_code == 400
    assert response.json()["status"] == "invalid event"
    assert any("dedup_key" in message for message in response.json()["errors"])


async def test_pagerduty_body_nested_past_pythons_recursion_is_400_not_a_500(
    hub: RunningHub,
) -> None:
    deep = b"[" * 5000
    response = await hub.client.post(PD, content=deep, headers=hub.key("pagerduty"))
    assert response.status_code == 400, response.text
    assert response.json()["error"]["details"][0]["field"] == "body"


async def test_label_values_longer_than_the_incident_columns_are_cut_not_refused(
    hub: RunningHub,
) -> None:
    """On PostgreSQL a source or service past 255 characters failed the insert (a 500)."""
    long = "x" * 300
    hook = {"groupKey": "g", "status": "firing", "commonLabels": {"instance": long, "job": long}}
    alert = {"source": "s", "summary": "y", "labels": {"service": long}}
    event = pagerduty_event(hub.keys["pagerduty"], "trigger", "long")
    event["payload"]["component"] = long  # type: ignore[index]
    for path, body, key in ((AM, hook, "alertmanager"), ("/api/alerts", alert, "generic")):
        response = await hub.client.post(path, json=body, headers=hub.key(key))
        assert response.status_code == 202, response.text
        opened = await incident(hub, response.json()["incident_id"])
        assert opened["service"] == long[:255]
    response = await hub.client.post(PD, json=event)
    assert response.status_code == 202, response.text
    assert (await incident(hub, response.json()["incident_id"]))["service"] == long[:255]


async def test_pagerduty_severity_maps_to_ours(hub: RunningHub) -> None:
    event = pagerduty_event(hub.keys["pagerduty"], "trigger", "sev")
    event["payload"]["severity"] = "warning"  # type: ignore[index]
    incident_id = (await hub.client.post(PD, json=event)).json()["incident_id"]
    assert (await incident(hub, incident_id))["severity"] == "medium"


async def test_generic_alert_deduplicates_on_fingerprint(hub: RunningHub) -> None:
    alert = {"source": "cron", "summary": "backup failed", "severity": "high", "fingerprint": "b1"}
    first = await hub.client.post("/api/alerts", json=alert, headers=hub.key("generic"))
    second = await hub.client.post("/api/alerts", json=alert, headers=hub.key("generic"))
    assert first.status_code == 202
    assert second.json()["incident_id"] == first.json()["incident_id"]
    resolved = await hub.client.post(
        "/api/alerts", json={**alert, "status": "resolved"}, headers=hub.key("generic")
    )
    assert resolved.json()["state"] == "resolved"


async def test_generic_alert_without_fingerprint_dedups_on_source_and_labels(
    hub: RunningHub,
) -> None:
    alert = {"source": "probe", "summary": "down", "labels": {"host": "a"}}
    changed = {"source": "probe", "summary": "still down", "labels": {"host": "a"}}
    other = {"source": "probe", "summary": "down", "labels": {"host": "b"}}
    ids = [
        (await hub.client.post("/api/alerts", json=body, headers=hub.key("generic"))).json()[
            "incident_id"
        ]
        for body in (alert, changed, other)
    ]
    assert ids[0] == ids[1] != ids[2]


async def test_operator_token_is_accepted_on_every_intake_route(hub: RunningHub) -> None:
    operator = hub.auth(Role.OPERATOR)
    hook = alertmanager_hook("A", "h", "info", "firing", "s")
    event = pagerduty_event(hub.keys["pagerduty"], "trigger", "op")
    del event["routing_key"]
    generic = {"source": "curl", "summary": "by hand"}
    assert (await hub.client.post(AM, json=hook, headers=operator)).status_code == 202
    assert (await hub.client.post(PD, json=event, headers=operator)).status_code == 202
    assert (await hub.client.post("/api/alerts", json=generic, headers=operator)).status_code == 202


async def test_a_key_of_one_kind_cannot_send_another_kind(hub: RunningHub) -> None:
    hook = alertmanager_hook("A", "h", "info", "firing", "s")
    response = await hub.client.post(AM, json=hook, headers=hub.key("generic"))
    assert response.status_code == 403


async def test_an_integration_key_only_sends_alerts(hub: RunningHub) -> None:
    for path in ("/api/incidents", "/api/auto-recovery/overview"):
        response = await hub.client.get(path, headers=hub.key("generic"))
        assert response.status_code == 401


async def test_a_viewer_token_cannot_send_alerts(hub: RunningHub) -> None:
    response = await hub.client.post(
        "/api/alerts", json={"source": "s", "summary": "x"}, headers=hub.auth(Role.VIEWER)
    )
    assert response.status_code == 403


async def test_a_revoked_key_is_refused_at_once(hub: RunningHub) -> None:
    alert = {"source": "s", "summary": "x"}
    assert (
        await hub.client.post("/api/alerts", json=alert, headers=hub.key("generic"))
    ).status_code == 202
    assert await hub.hub.credentials.revoke_integration("test-generic")
    response = await hub.client.post("/api/alerts", json=alert, headers=hub.key("generic"))
    assert response.status_code == 401
