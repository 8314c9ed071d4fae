"""Rollback, the auto-rollback switch, status, active and history against a real hub."""

from __future__ import annotations

from typing import Any

import pytest

from bounceback.api.auth.roles import Role
from bounceback.api.testing import RunningHub
from bounceback.guard.testing import FakeGitHub
from tests.api.deployments.conftest import HubFactory, guard

pytestmark = pytest.mark.anyio

PATH = "/api/auto-recovery/deployment"


async def post(hub: RunningHub, path: str, body: Any = None, role: Role = Role.GUARD) -> Any:
    response = await hub.client.post(f"{PATH}{path}", json=body or {}, headers=hub.auth(role))
    assert response.status_code in (200, 201), response.text
    return response.json()


async def get(hub: RunningHub, path: str, **params: str) -> Any:
    response = await hub.client.get(f"{PATH}{path}", params=params, headers=hub.auth(Role.VIEWER))
    assert response.status_code == 200, response.text
    return response.json()


async def deployed_version(hub: RunningHub, version: str, outcome: str = "succeeded") -> int:
    tracked = await post(hub, "/track", {"target": "web", "version": version})
    await post(hub, f"/{tracked['id']}/deployed")
    await post(hub, f"/{tracked['id']}/finish", {"outcome": outcome})
    deployment_id: int = tracked["id"]
    return deployment_id


async def test_a_rollback_request_tracks_the_rollback_and_marks_the_deployment(
    deploy_hub: HubFactory,
) -> None:
    async with deploy_hub() as hub:
        await deployed_version(hub, "v1")
        bad = await deployed_version(hub, "v2", outcome="failed")
        rollback = await post(
            hub, "/web/rollback", {"reason": "checkout errors doubled"}, role=Role.OPERATOR
        )
        assert rollback["kind"] == "rollback"
        assert rollback["rolls_back"] == bad
        assert rollback["version"] == "v1"
        assert rollback["previous_version"] == "v2"

        undone = (await get(hub, f"/{bad}"))["deployment"]
        assert undone["state"] == "rolling_back"
        assert undone["rollback_requested"] is True
        assert undone["rolled_back_by"] == rollback["id"]
        timeline = (await get(hub, f"/{bad}"))["timeline"]
        # The first request came from auto-rollback when the deployment failed.
        auto, requested = [entry for entry in timeline if entry["kind"] == "rollback_requested"]
        assert auto["message"] == "auto-rollback is on: roll back now"
        assert requested["details"] == {
            "actor": "token:test-operator",
            "reason": "checkout errors doubled",
            "to_version": "v1",
        }

        await post(hub, f"/{rollback['id']}/deployed")
        await post(hub, f"/{rollback['id']}/finish", {"outcome": "succeeded"})
        assert (await get(hub, f"/{bad}"))["deployment"]["state"] == "rolled_back"

        audit = await hub.client.get(
            "/api/auto-recovery/audit",
            params={"action": "deployment.rollback"},
            headers=hub.auth(Role.ADMIN),
        )
        [record] = audit.json()["items"]
        assert record["actor"] == "token:test-operator"
        assert record["details"]["reason"] == "checkout errors doubled"


async def test_a_rollback_with_nothing_to_roll_back_is_404_and_without_a_good_version_409(
    deploy_hub: HubFactory,
) -> None:
    async with deploy_hub() as hub:
        response = await hub.client.post(
            f"{PATH}/web/rollback", json={"reason": "why not"}, headers=guard(hub)
        )
        assert response.status_code == 404
        await post(hub, "/track", {"target": "web", "version": "v1"})
        response = await hub.client.post(
            f"{PATH}/web/rollback", json={"reason": "why not"}, headers=guard(hub)
        )
        assert response.status_code == 409
        assert response.json()["error"]["details"][0]["field"] == "to_version"


async def test_a_target_with_a_rollback_workflow_gets_it_dispatched(
    deploy_hub: HubFactory,
) -> None:
    with FakeGitHub(token="ghs_hub") as github:
        workflow = {"repository": "octo/app", "workflow": "rb.yml"}
        deployments = {
            "github_api_url": github.base_url,
            "targets": {"web": {"rollback_workflow": workflow}},
        }
        async with deploy_hub(deployments, bounceback_github_token="ghs_hub") as hub:
            await deployed_version(hub, "v1")
            bad = await deployed_version(hub, "v2", outcome="failed")
            rollback = await post(hub, "/web/rollback", {"reason": "errors"})
            [dispatch] = github.dispatches
            assert (dispatch.repo, dispatch.workflow) == ("octo/app", "rb.yml")
            assert dispatch.ref == "main"
            # The inputs the guard dispatches with too (examples/workflows/rollback.yml).
            assert dispatch.inputs == {
                "ref": "v1",
                "deployment-id": str(rollback["id"]),
                "github-deployment-id": "",
            }
            assert rollback["rolls_back"] == bad
            timeline = (await get(hub, f"/{rollback['id']}"))["timeline"]
            assert timeline[-1]["kind"] == "dispatched"


async def test_auto_rollback_can_be_switched_off_and_a_failure_then_requests_no_rollback(
    deploy_hub: HubFactory,
) -> None:
    async with deploy_hub() as hub:
        assert (await get(hub, "/status"))["auto_rollback_enabled"] is True
        status = await post(hub, "/auto-rollback/disable", role=Role.ADMIN)
        assert status["auto_rollback_enabled"] is False
        bad = await deployed_version(hub, "v2", outcome="failed")
        assert (await get(hub, f"/{bad}"))["deployment"]["rollback_requested"] is False
        status = await post(hub, "/auto-rollback/enable", role=Role.ADMIN)
        assert status["auto_rollback_enabled"] is True
        audit = await hub.client.get(
            "/api/auto-recovery/audit",
            params={"action": "deployment.auto_rollback.disable"},
            headers=hub.auth(Role.ADMIN),
        )
        assert [r["actor"] for r in audit.json()["items"]] == ["token:test-admin"]


async def test_the_switch_starts_from_auto_rollback_enabled(deploy_hub: HubFactory) -> None:
    async with deploy_hub(auto_rollback_enabled=False) as hub:
        assert (await get(hub, "/status"))["auto_rollback_enabled"] is False


async def test_status_active_and_history_list_deployments(deploy_hub: HubFactory) -> None:
    async with deploy_hub() as hub:
        first = await deployed_version(hub, "v1")
        open_one = await post(hub, "/track", {"target": "api", "version": "a1"})
        status = await get(hub, "/status")
        assert status["active"] == 1
        assert status["by_state"]["succeeded"] == 1
        assert status["last_deployment"]["id"] == open_one["id"]
        assert status["stabilization_minutes"] == 15 and status["monitoring_minutes"] == 60
        active = await get(hub, "/active")
        assert [item["id"] for item in active["items"]] == [open_one["id"]]
        history = await get(hub, "/history", target="web")
        assert [item["id"] for item in history["items"]] == [first]
        page = await get(hub, "/history", limit="1")
        assert page["next_cursor"] is not None
        rest = await get(hub, "/history", limit="1", cursor=page["next_cursor"])
        assert [item["id"] for item in rest["items"]] == [first]
        succeeded = await get(hub, "/history", state="succeeded")
        assert [item["id"] for item in succeeded["items"]] == [first]


async def test_a_new_deployment_supersedes_an_open_one(deploy_hub: HubFactory) -> None:
    async with deploy_hub() as hub:
        old = await post(hub, "/track", {"target": "web", "version": "v1"})
        await post(hub, "/track", {"target": "web", "version": "v2"})
        assert (await get(hub, f"/{old['id']}"))["deployment"]["state"] == "cancelled"


async def test_monitoring_disabled_records_without_watching(deploy_hub: HubFactory) -> None:
    async with deploy_hub(deployment_monitoring_enabled=False) as hub:
        gate = await post(hub, "/gate", {"target": "web"})
        assert gate["allowed"] is True
        assert [r["code"] for r in gate["reasons"]] == ["monitoring_disabled"]
        tracked = await post(hub, "/track", {"target": "web", "version": "v1"})
        done = await post(hub, f"/{tracked['id']}/deployed")
        assert done["state"] == "succeeded" and done["verdict"] is None
