"""Bad input is refused with a 4xx that names the field."""

from __future__ import annotations

from typing import Any

import pytest

from bounceback.api.auth.roles import Role
from tests.api.deployments.conftest import HubFactory, guard

pytestmark = pytest.mark.anyio

PATH = "/api/auto-recovery/deployment"
WEB = {"target": "web", "version": "v1"}


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/track", {"version": "v1"}, "target"),
        ("/track", {"target": "web"}, "version"),
        ("/track", {"target": "bad target!", "version": "v1"}, "target"),
        ("/track", {**WEB, "monitoring_minutes": -1}, "monitoring_minutes"),
        ("/track", {**WEB, "thresholds": {"alpha": 2}}, "thresholds.alpha"),
        (
            "/track",
            {**WEB, "thresholds": {"error_rate_floor": True}},
            "thresholds.error_rate_floor",
        ),
        ("/track", {"target": "web", "version": "v1", "kind": "rollback"}, "rolls_back"),
        ("/track", {"target": "web", "version": "v1", "rolls_back": 5}, "rolls_back"),
        ("/track", {"target": "web", "version": "v1", "surprise": 1}, "surprise"),
        ("/gate", {"target": "web", "health_urls": "http://x"}, "health_urls"),
        # Past the store's integers (PostgreSQL failed on them: a 500).
        ("/track", {**WEB, "kind": "rollback", "rolls_back": 2**31}, "rolls_back"),
        ("/track", {**WEB, "github_deployment_id": 2**63}, "github_deployment_id"),
        ("/web/rollback", {"reason": "x", "deployment_id": 10**20}, "deployment_id"),
        ("/1/deployed", {"github_deployment_id": 10**20}, "github_deployment_id"),
        ("/2147483648/finish", {"outcome": "failed"}, "id"),
        ("/freeze/override", {"target": "web", "reason": "x"}, "reason"),
        ("/web/rollback", {}, "reason"),
        ("/1/finish", {"outcome": "monitoring"}, "outcome"),
        ("/1/finish", {"outcome": "sideways"}, "outcome"),
    ],
)
async def test_bad_input_names_the_field(
    deploy_hub: HubFactory, path: str, body: dict[str, Any], field: str
) -> None:
    async with deploy_hub() as hub:
        await hub.client.post(
            f"{PATH}/track", json={"target": "web", "version": "v0"}, headers=guard(hub)
        )
        operator = hub.auth(Role.OPERATOR)
        response = await hub.client.post(f"{PATH}{path}", json=body, headers=operator)
        assert response.status_code == 422, response.text
        error = response.json()["error"]
        assert error["details"][0]["field"] == field, error
        assert field in error["message"]


async def test_unknown_deployments_are_404_and_non_json_is_400(deploy_hub: HubFactory) -> None:
    async with deploy_hub() as hub:
        missing = await hub.client.get(f"{PATH}/999", headers=hub.auth(Role.VIEWER))
        assert missing.status_code == 404
        assert missing.json()["error"]["code"] == "not_found"
        response = await hub.client.post(
            f"{PATH}/999/deployed", json={}, headers=hub.auth(Role.OPERATOR)
        )
        assert response.status_code == 404
        broken = await hub.client.post(
            f"{PATH}/track", content=b"{not json", headers=hub.auth(Role.OPERATOR)
        )
        assert broken.status_code == 400
        assert broken.json()["error"]["details"][0]["field"] == "body"
        history = await hub.client.get(
            f"{PATH}/history", params={"state": "sideways"}, headers=hub.auth(Role.VIEWER)
        )
        assert history.status_code == 422
        assert history.json()["error"]["details"][0]["field"] == "state"


async def test_a_deployment_id_past_the_stores_integers_is_422_not_a_500(
    deploy_hub: HubFactory,
) -> None:
    async with deploy_hub() as hub:
        response = await hub.client.get(f"{PATH}/{10**20}", headers=hub.auth(Role.VIEWER))
        assert response.status_code == 422, response.text
        assert response.json()["error"]["details"][0]["field"] == "id"


async def test_status_active_and_history_are_not_taken_for_deployment_ids(
    deploy_hub: HubFactory,
) -> None:
    async with deploy_hub() as hub:
        for name in ("status", "active", "history"):
            response = await hub.client.get(f"{PATH}/{name}", headers=hub.auth(Role.VIEWER))
            assert response.status_code == 200, (name, response.text)


async def test_a_health_url_that_cannot_be_requested_is_unhealthy_not_a_500(
    deploy_hub: HubFactory,
) -> None:
    async with deploy_hub() as hub:
        response = await hub.client.post(
            f"{PATH}/gate",
            json={"target": "web", "health_urls": ["rE\x18", "http://exa mple/\x00"]},
            headers=hub.auth(Role.OPERATOR),
        )
        assert response.status_code == 200, response.text
        answer = response.json()
        assert answer["allowed"] is False
        assert [reason["code"] for reason in answer["reasons"]] == ["unhealthy", "unhealthy"]
        assert "InvalidURL" in answer["reasons"][0]["message"]
