"""The public status page: component health (pure), off by default, public notes only, nothing
internal leaked, and the Statuspage-shaped /status.json."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import httpx
import pytest

from bounceback.api.auth.roles import Role
from bounceback.api.dashboard.status_model import (
    ActiveRule,
    Component,
    ComponentStatus,
    component_health,
    overall,
)
from bounceback.api.deployments.config import DegradationLevel
from bounceback.api.schema import Severity
from bounceback.api.settings import HubSettings
from bounceback.api.testing import RunningHub, running_hub

pytestmark = pytest.mark.anyio

OK = ComponentStatus.OPERATIONAL


# -- component health: a pure function ----------------------------------------------------------


def test_a_component_without_incidents_or_degradation_is_operational() -> None:
    assert component_health(["web"], [], []) == [Component("web", OK)]


@pytest.mark.parametrize(
    ("severity", "status"),
    [
        (Severity.CRITICAL, ComponentStatus.MAJOR_OUTAGE),
        (Severity.HIGH, ComponentStatus.PARTIAL_OUTAGE),
        (Severity.MEDIUM, ComponentStatus.DEGRADED),
        (Severity.LOW, OK),
        (Severity.INFO, OK),
    ],
)
def test_an_open_incident_sets_its_service_by_severity(
    severity: Severity, status: ComponentStatus
) -> None:
    found = component_health(["api", "web"], [("web", severity)], [])
    assert found == [Component("api", OK), Component("web", status)]


def test_the_worst_of_incidents_and_degradation_wins() -> None:
    found = component_health(
        ["web"],
        [("web", Severity.MEDIUM)],
        [ActiveRule("web", DegradationLevel.SEVERE), ActiveRule("web", DegradationLevel.MINIMAL)],
    )
    assert found == [Component("web", ComponentStatus.PARTIAL_OUTAGE)]


def test_a_fleet_wide_rule_degrades_every_component_and_a_service_rule_only_its_own() -> None:
    found = component_health(
        ["api", "web"],
        [],
        [ActiveRule(None, DegradationLevel.MINIMAL), ActiveRule("api", DegradationLevel.EMERGENCY)],
    )
    assert found == [
        Component("api", ComponentStatus.MAJOR_OUTAGE),
        Component("web", ComponentStatus.DEGRADED),
    ]


def test_incidents_of_services_that_are_not_components_change_nothing() -> None:
    # An alert's service may be a hostname: it never becomes a component, and never shows.
    found = component_health(["web"], [("db-7.internal", Severity.CRITICAL)], [])
    assert found == [Component("web", OK)]


def test_the_page_status_is_the_worst_component_or_the_fleet_degradation() -> None:
    components = [Component("a", OK), Component("b", ComponentStatus.PARTIAL_OUTAGE)]
    assert overall(components, DegradationLevel.NORMAL) is ComponentStatus.PARTIAL_OUTAGE
    assert overall([], DegradationLevel.EMERGENCY) is ComponentStatus.MAJOR_OUTAGE
    assert overall([], DegradationLevel.NORMAL) is OK


# -- the page on a real hub ---------------------------------------------------------------------

CONFIG: dict[str, Any] = {
    "deployments": {"targets": {"web": {}, "api": {}}},
    "degradation": {
        "rules": [{"id": "api-slow", "service": "api", "level": "severe", "actions": []}]
    },
}
# What an internal incident carries and the public must never see.
SECRET_SUMMARY = "db-7.internal.example.net refuses connections; paged alice@example.com"
SECRETS = ["db-7", "internal", "alice", "test-operator", "token:", "refuses connections", "bbt_"]

StatusHub = Callable[..., AbstractAsyncContextManager[RunningHub]]


@pytest.fixture
def status_hub(db_settings: HubSettings) -> StatusHub:
    @asynccontextmanager
    async def make(**settings: Any) -> AsyncIterator[RunningHub]:
        values = {**db_settings.model_dump(), **CONFIG, **settings}
        async with running_hub(HubSettings.model_validate(values)) as running:
            yield running

    return make


async def open_internal_incident(hub: RunningHub, severity: str = "critical") -> int:
    alert = {
        "source": "prometheus",
        "summary": SECRET_SUMMARY,
        "severity": severity,
        "service": "web",
        "labels": {"host": "db-7.internal", "owner": "alice"},
    }
    response = await hub.client.post("/api/alerts", json=alert, headers=hub.key("generic"))
    assert response.status_code == 202, response.text
    incident_id = response.json()["incident_id"]
    assert isinstance(incident_id, int)
    ack = await hub.client.post(
        f"/api/incidents/{incident_id}/acknowledge", headers=hub.auth(Role.OPERATOR)
    )
    assert ack.status_code == 200, ack.text
    return incident_id


async def publish(hub: RunningHub, incident_id: int, **body: Any) -> httpx.Response:
    return await hub.client.post(
        f"/api/incidents/{incident_id}/public-note", json=body, headers=hub.auth(Role.OPERATOR)
    )


async def anonymous(hub: RunningHub, path: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=hub.url, timeout=10) as client:
        return await client.get(path)


async def test_the_status_page_is_off_by_default(hub: RunningHub) -> None:
    for path in ("/status", "/status.json"):
        response = await anonymous(hub, path)
        assert response.status_code == 404, path


async def test_components_show_health_without_sign_in_and_without_internal_incidents(
    status_hub: StatusHub,
) -> None:
    async with status_hub(bounceback_status_page=True) as hub:
        await open_internal_incident(hub)
        page = await anonymous(hub, "/status")
        assert page.status_code == 200
        assert "set-cookie" not in page.headers
        assert page.headers["cache-control"] == "public, max-age=15"
        assert "script-src 'self'" in page.headers["content-security-policy"]
        assert "script" not in page.text  # its own template: no app.js, no live stream
        assert "Major Service Outage" in page.text
        assert "No incidents reported" in page.text  # open, but nothing was published
        summary = (await anonymous(hub, "/status.json")).json()
        assert summary["status"] == {"indicator": "critical", "description": "Major Service Outage"}
        assert {c["name"]: c["status"] for c in summary["components"]} == {
            "api": "operational",
            "web": "major_outage",
        }
        assert summary["incidents"] == []
        for secret in SECRETS:
            assert secret not in page.text and secret not in str(summary), secret


async def test_only_public_notes_of_open_incidents_are_shown_and_nothing_internal_leaks(
    status_hub: StatusHub,
) -> None:
    async with status_hub(bounceback_status_page=True) as hub:
        incident_id = await open_internal_incident(hub)
        first = await publish(
            hub, incident_id, title="Checkout errors", message="We are looking into failures."
        )
        assert first.status_code == 200, first.text
        assert first.json()["timeline"][-1]["kind"] == "public_note"  # the team sees it too
        second = await publish(
            hub, incident_id, message="A fix is rolling out.", status="monitoring"
        )
        assert second.status_code == 200

        page = await anonymous(hub, "/status")
        assert "Checkout errors" in page.text
        assert "We are looking into failures." in page.text
        assert "A fix is rolling out." in page.text
        document = await anonymous(hub, "/status.json")
        assert document.headers["access-control-allow-origin"] == "*"
        summary = document.json()
        [incident] = summary["incidents"]
        assert incident["name"] == "Checkout errors"
        assert incident["status"] == "monitoring"
        assert incident["impact"] == "critical"
        assert incident["monitoring_at"] is not None
        assert [c["name"] for c in incident["components"]] == ["web"]
        assert [u["body"] for u in incident["incident_updates"]] == [
            "A fix is rolling out.",
            "We are looking into failures.",
        ]
        assert summary["page"]["url"].endswith("/status")
        assert set(summary) >= {"page", "status", "components", "incidents"}
        for secret in [*SECRETS, *hub.tokens.values()]:
            assert secret not in page.text and secret not in document.text, secret

        resolved = await hub.client.post(
            f"/api/incidents/{incident_id}/resolve", headers=hub.auth(Role.OPERATOR)
        )
        assert resolved.status_code == 200
        after = (await anonymous(hub, "/status.json")).json()
        assert after["incidents"] == []
        assert after["status"]["indicator"] == "none"


async def test_a_public_note_is_audited_and_its_body_checked(status_hub: StatusHub) -> None:
    async with status_hub(bounceback_status_page=True) as hub:
        incident_id = await open_internal_incident(hub, severity="high")
        blank = await publish(hub, incident_id, message="   ")
        assert blank.status_code == 422
        assert "message" in blank.text
        wrong = await publish(hub, incident_id, message="ok", status="resolved")
        assert wrong.status_code == 422
        assert "status" in wrong.text
        missing = await publish(hub, 999_999, message="hello")
        assert missing.status_code == 404
        viewer = await hub.client.post(
            f"/api/incidents/{incident_id}/public-note",
            json={"message": "hi"},
            headers=hub.auth(Role.VIEWER),
        )
        assert viewer.status_code == 403
        assert (await publish(hub, incident_id, message="Slow checkouts.")).status_code == 200

        audit = await hub.client.get(
            "/api/auto-recovery/audit",
            params={"action": "incident.public_note"},
            headers=hub.auth(Role.ADMIN),
        )
        records = audit.json()["items"]
        assert [(r["actor"], r["target"], r["outcome"]) for r in records] == [
            ("token:test-operator", f"incident:{incident_id}", "ok"),
            ("token:test-operator", "incident:999999", "not_found"),
        ]
        summary = (await anonymous(hub, "/status.json")).json()
        [incident] = summary["incidents"]
        assert incident["name"] == "Service disruption: web"  # no title given: never the summary
        assert incident["impact"] == "major"


async def test_degradation_sets_its_service_component(status_hub: StatusHub) -> None:
    async with status_hub(bounceback_status_page=True) as hub:
        response = await hub.client.post(
            "/api/auto-recovery/degradation/rules/api-slow/activate",
            headers=hub.auth(Role.OPERATOR),
        )
        assert response.status_code == 200, response.text
        summary = (await anonymous(hub, "/status.json")).json()
        assert {c["name"]: c["status"] for c in summary["components"]} == {
            "api": "partial_outage",
            "web": "operational",
        }
        assert summary["status"]["indicator"] == "major"
        page = await anonymous(hub, "/status")
        assert "Partial outage" in page.text
