"""A freeze window blocks the gate until an operator overrides it, with a reason, audited."""

from __future__ import annotations

import pytest

from bounceback.api.auth.roles import Role
from tests.api.deployments.conftest import HubFactory, guard

pytestmark = pytest.mark.anyio

PATH = "/api/auto-recovery/deployment"
# The fake clock starts on Thursday 2026-01-01 at 00:00 UTC.
NEW_YEAR = {"name": "new-year", "cron": "0 0 1 1 *", "duration_minutes": 24 * 60}


async def test_a_freeze_blocks_unless_overridden_and_the_override_is_audited(
    deploy_hub: HubFactory,
) -> None:
    deployments = {"targets": {"web": {"freeze": [NEW_YEAR]}}}
    async with deploy_hub(deployments) as hub:
        gate = {"target": "web"}
        blocked = (await hub.client.post(f"{PATH}/gate", json=gate, headers=guard(hub))).json()
        assert blocked["allowed"] is False
        [reason] = blocked["reasons"]
        assert reason["code"] == "freeze" and reason["blocking"] is True
        assert reason["details"]["window"] == "new-year"
        assert reason["details"]["ends_at"].startswith("2026-01-02T00:00:00")

        hotfix = {"target": "web", "reason": "hotfix"}
        refused = await hub.client.post(f"{PATH}/freeze/override", json=hotfix, headers=guard(hub))
        assert refused.status_code == 403

        body = {"target": "web", "reason": "hotfix for INC-42", "minutes": 30}
        response = await hub.client.post(
            f"{PATH}/freeze/override", json=body, headers=hub.auth(Role.OPERATOR)
        )
        assert response.status_code == 201, response.text
        override = response.json()
        assert override["actor"] == "token:test-operator"
        assert override["until"].startswith("2026-01-01T00:30:00")

        allowed = (await hub.client.post(f"{PATH}/gate", json=gate, headers=guard(hub))).json()
        assert allowed["allowed"] is True
        [reason] = allowed["reasons"]
        assert reason["code"] == "freeze" and reason["blocking"] is False
        assert reason["details"]["override"]["reason"] == "hotfix for INC-42"

        other = {"target": "web", "environment": "staging"}
        staging = (await hub.client.post(f"{PATH}/gate", json=other, headers=guard(hub))).json()
        assert staging["allowed"] is False, "an override is for one target and environment"

        audit = await hub.client.get(
            "/api/auto-recovery/audit",
            params={"action": "deployment.freeze_override"},
            headers=hub.auth(Role.ADMIN),
        )
        [record] = audit.json()["items"]
        assert record["actor"] == "token:test-operator"
        assert record["details"]["reason"] == "hotfix for INC-42"
        gates = await hub.client.get(
            "/api/auto-recovery/audit",
            params={"action": "deployment.gate"},
            headers=hub.auth(Role.ADMIN),
        )
        assert [r["outcome"] for r in gates.json()["items"]] == ["blocked", "allowed", "blocked"]


async def test_a_window_for_other_environments_does_not_apply(deploy_hub: HubFactory) -> None:
    window = {**NEW_YEAR, "environments": ["staging"]}
    async with deploy_hub({"freeze": [window]}) as hub:
        gate = {"target": "web", "environment": "production"}
        result = (await hub.client.post(f"{PATH}/gate", json=gate, headers=guard(hub))).json()
        assert result["allowed"] is True
