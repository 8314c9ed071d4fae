"""A rollback restores configuration where the target declares how: the declared agent action,
sent as a command to each of the rollback's hosts, with the rollback's facts as parameters."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from bounceback.api.auth.roles import Role
from bounceback.api.deployments.config import DeploymentsConfig, RestoreConfig
from bounceback.api.deployments.restore import plan
from bounceback.api.testing import RunningHub
from tests.api.deployments.conftest import HubFactory

pytestmark = pytest.mark.anyio

PATH = "/api/auto-recovery/deployment"
RESTORE = {"action": "restore-nginx-conf", "params": {"version": "{to_version}"}}


async def post(hub: RunningHub, path: str, body: Any = None, role: Role = Role.GUARD) -> Any:
    response = await hub.client.post(f"{PATH}{path}", json=body or {}, headers=hub.auth(role))
    assert response.status_code in (200, 201), response.text
    return response.json()


async def report(hub: RunningHub, host: str, actions: list[str]) -> dict[str, str]:
    token = await hub.hub.credentials.create_token(host, Role.AGENT)
    headers = {"Authorization": f"Bearer {token}"}
    body = {
        "hostname": f"{host}.example.net",
        "version": "0.1.0",
        "interval_seconds": 10,
        "self_healing_enabled": True,
        "actions": actions,
        "breakers": [],
        "events": [],
    }
    response = await hub.client.post(f"/api/agents/{host}/reports", json=body, headers=headers)
    assert response.status_code in (200, 202), response.text
    return headers


async def test_a_rollback_sends_the_declared_restore_to_every_host_that_declares_it(
    deploy_hub: HubFactory,
) -> None:
    targets = {"web": {"hosts": ["web-1", "web-2", "web-3"], "restore_config": RESTORE}}
    async with deploy_hub(deployments={"targets": targets}) as hub:
        web1 = await report(hub, "web-1", ["restore-nginx-conf", "clean-logs"])
        await report(hub, "web-2", ["clean-logs"])  # does not declare it: skipped, said so
        for version, outcome in (("v1", "succeeded"), ("v2", "failed")):
            tracked = await post(hub, "/track", {"target": "web", "version": version})
            await post(hub, f"/{tracked['id']}/deployed")
            await post(hub, f"/{tracked['id']}/finish", {"outcome": outcome})
        rollback = await post(hub, "/web/rollback", {"reason": "5xx"}, role=Role.OPERATOR)

        commands = await hub.client.get("/api/agents/web-1/commands", headers=web1)
        assert commands.status_code == 200, commands.text
        [command] = commands.json()["commands"]
        assert command["kind"] == "run_action"
        assert command["target"] == "restore-nginx-conf"
        assert command["params"] == {"version": "v1"}

        detail = await hub.client.get(f"{PATH}/{rollback['id']}", headers=hub.auth(Role.VIEWER))
        events = {
            entry["details"].get("host"): (entry["kind"], entry["message"])
            for entry in detail.json()["timeline"]
            if entry["kind"].startswith("config_restore")
        }
        assert events["web-1"][0] == "config_restore_requested"
        assert events["web-2"] == (
            "config_restore_skipped",
            "configuration not restored on web-2: its agent does not declare 'restore-nginx-conf'",
        )
        assert events["web-3"][0] == "config_restore_skipped"  # never reported


async def test_a_deployment_that_is_not_a_rollback_restores_nothing(
    deploy_hub: HubFactory,
) -> None:
    targets = {"web": {"hosts": ["web-1"], "restore_config": RESTORE}}
    async with deploy_hub(deployments={"targets": targets}) as hub:
        web1 = await report(hub, "web-1", ["restore-nginx-conf"])
        await post(hub, "/track", {"target": "web", "version": "v1"})
        commands = await hub.client.get("/api/agents/web-1/commands", headers=web1)
        assert commands.json()["commands"] == []


def test_the_plan_fills_in_the_rollback_facts() -> None:
    restore = RestoreConfig(
        action="restore", params={"to": "{to_version}", "from": "{from_version}"}
    )
    [planned] = plan(
        restore, ["h"], {"h": ("restore",)}, {"to_version": "v1", "from_version": "v2"}
    )
    assert planned.params == {"to": "v1", "from": "v2"}
    assert planned.skipped is None


def test_an_unknown_placeholder_is_a_config_error_naming_the_parameter() -> None:
    with pytest.raises(ValidationError, match=r"params.version: unknown placeholder \{tag\}"):
        DeploymentsConfig.model_validate(
            {
                "targets": {
                    "web": {"restore_config": {"action": "r", "params": {"version": "{tag}"}}}
                }
            }
        )
