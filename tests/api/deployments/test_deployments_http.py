"""A real hub on 127.0.0.1, a real loopback service, the fake clock: the guard's flow end to end."""

from __future__ import annotations

from typing import Any

import pytest

from bounceback.api.auth.roles import Role
from bounceback.api.testing import RunningHub
from tests.api.deployments.conftest import Advance, HubFactory, Service, guard

pytestmark = pytest.mark.anyio

PATH = "/api/auto-recovery/deployment"


async def track(hub: RunningHub, service: Service, **fields: Any) -> dict[str, Any]:
    body = {
        "target": "web",
        "version": "v2",
        "health_urls": [service.url],
        "stabilization_minutes": 1,
        "monitoring_minutes": 2,
        **fields,
    }
    response = await hub.client.post(f"{PATH}/track", json=body, headers=guard(hub))
    assert response.status_code == 201, response.text
    deployment: dict[str, Any] = response.json()
    return deployment


async def detail(hub: RunningHub, deployment_id: int) -> dict[str, Any]:
    response = await hub.client.get(f"{PATH}/{deployment_id}", headers=guard(hub))
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


async def test_a_healthy_deploy_succeeds_after_its_watch(
    deploy_hub: HubFactory, service: Service, advance: Advance
) -> None:
    async with deploy_hub() as hub:
        tracked = await track(hub, service)
        assert tracked["state"] == "registered"
        assert tracked["report_url"].endswith(f"/deployments/{tracked['id']}")
        await advance(hub, 20)
        assert (await detail(hub, tracked["id"]))["deployment"]["state"] == "deploying"
        response = await hub.client.post(
            f"{PATH}/{tracked['id']}/deployed", json={}, headers=guard(hub)
        )
        assert response.status_code == 200, response.text
        assert response.json()["state"] == "stabilizing"
        await advance(hub, 100)
        assert (await detail(hub, tracked["id"]))["deployment"]["state"] == "monitoring"
        await advance(hub, 130)

        found = await detail(hub, tracked["id"])
        deployment = found["deployment"]
        assert deployment["state"] == "succeeded", found["timeline"]
        assert deployment["rollback_requested"] is False
        verdict = deployment["verdict"]
        assert verdict["outcome"] == "pass"
        assert verdict["look"] == verdict["max_looks"] == 4
        metrics = {metric["name"]: metric for metric in verdict["metrics"]}
        assert metrics["errors"]["baseline_n"] == 0 and metrics["errors"]["current"] == 0
        assert metrics["latency_ms"]["baseline_n"] >= 30
        assert found["baseline"]["errors"]["exposure"] >= 30
        kinds = [entry["kind"] for entry in found["timeline"]]
        assert kinds[:4] == ["tracked", "baseline", "deployed", "stabilizing"]
        assert kinds[-1] == "succeeded"


async def test_an_error_rate_regression_fails_and_requests_a_rollback(
    deploy_hub: HubFactory, service: Service, advance: Advance
) -> None:
    async with deploy_hub() as hub:
        tracked = await track(hub, service, version="v3", previous_version="v2")
        await advance(hub, 20)
        await hub.client.post(f"{PATH}/{tracked['id']}/deployed", json={}, headers=guard(hub))
        service.fail_every = 2
        await advance(hub, 220)

        found = await detail(hub, tracked["id"])
        deployment = found["deployment"]
        # Failed, and the predefined "Deployment Failure" recovery action took the rollback in
        # hand at once: tracked as its own deployment, waiting for whoever performs it.
        assert deployment["state"] == "rolling_back", found["timeline"]
        assert deployment["rollback_requested"] is True
        assert deployment["last_good_version"] == "v2"
        assert "failed" in [entry["kind"] for entry in found["timeline"]]
        pending = deployment["rolled_back_by"]
        assert pending is not None
        # The guard's watch tracks the rollback it performs: it joins the pending one.
        joined = await hub.client.post(
            f"{PATH}/track",
            json={
                "target": deployment["target"],
                "version": "v2",
                "kind": "rollback",
                "rolls_back": tracked["id"],
            },
            headers=guard(hub),
        )
        assert joined.status_code == 201, joined.text
        assert joined.json()["id"] == pending
        verdict = deployment["verdict"]
        assert verdict["outcome"] == "fail"
        [errors] = [m for m in verdict["metrics"] if m["name"] == "errors"]
        assert errors["outcome"] == "fail"
        assert errors["current"] == pytest.approx(0.5, abs=0.1)
        assert errors["p_value"] < errors["alpha"]
        assert "errors:" in verdict["explanation"]
        kinds = [entry["kind"] for entry in found["timeline"]]
        assert "rollback_requested" in kinds and "incident" in kinds

        incidents = await hub.client.get(
            "/api/incidents", params={"service": "web"}, headers=hub.auth(Role.VIEWER)
        )
        [incident] = incidents.json()["items"]
        assert incident["state"] == "triggered"
        assert "deployment of web v3 (production) failed" in incident["summary"]


async def test_an_open_critical_incident_blocks_the_gate_with_its_reason(
    deploy_hub: HubFactory, service: Service
) -> None:
    async with deploy_hub() as hub:
        gate = {"target": "web", "health_urls": [service.url]}
        response = await hub.client.post(f"{PATH}/gate", json=gate, headers=guard(hub))
        assert response.status_code == 200, response.text
        assert response.json()["allowed"] is True
        assert response.json()["reasons"] == []

        alert = {
            "source": "prometheus",
            "summary": "checkout is down",
            "severity": "critical",
            "service": "web",
        }
        sent = await hub.client.post("/api/alerts", json=alert, headers=hub.key("generic"))
        assert sent.status_code in (200, 201, 202), sent.text

        response = await hub.client.post(f"{PATH}/gate", json=gate, headers=guard(hub))
        result = response.json()
        assert response.status_code == 200
        assert result["allowed"] is False
        [reason] = result["reasons"]
        assert reason["code"] == "critical_incident"
        assert reason["blocking"] is True
        assert "checkout is down" in reason["message"]


async def test_an_unhealthy_health_url_blocks_the_gate(
    deploy_hub: HubFactory, service: Service
) -> None:
    service.fail_every = 1
    async with deploy_hub() as hub:
        gate = {"target": "web", "health_urls": [service.url, "http://127.0.0.1:9/down"]}
        result = (await hub.client.post(f"{PATH}/gate", json=gate, headers=guard(hub))).json()
        assert result["allowed"] is False
        assert [reason["code"] for reason in result["reasons"]] == ["unhealthy", "unhealthy"]
        assert result["reasons"][0]["details"]["status"] == 500


async def test_a_failed_deploy_command_fails_the_deployment_at_once(
    deploy_hub: HubFactory, service: Service
) -> None:
    async with deploy_hub() as hub:
        tracked = await track(hub, service)
        response = await hub.client.post(
            f"{PATH}/{tracked['id']}/deployed",
            json={"succeeded": False, "message": "kubectl exited 1"},
            headers=guard(hub),
        )
        body = response.json()
        assert body["state"] == "failed"
        assert body["rollback_requested"] is True
        assert body["finished_at"] is not None
