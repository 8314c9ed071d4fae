"""The degradation endpoints: status, active, features with ETag, manual activate/revert (held
until reverted by hand, audited), enable/disable, and OFREP bulk and single evaluation."""

from __future__ import annotations

import pytest

from bounceback.api.auth.roles import Role
from bounceback.api.clock import FakeClock
from bounceback.api.degradation.recovery_step import RecoveryDegradation
from tests.api.degradation.conftest import HOSTS, Fleet, HubFactory, advance, features, viewer

pytestmark = pytest.mark.anyio

PREFIX = "/api/auto-recovery/degradation"


async def test_features_answer_304_while_unchanged(degradation_hub: HubFactory) -> None:
    async with degradation_hub() as hub:
        first = await features(hub)
        assert first.status_code == 200
        body = first.json()
        assert body["level"] == "normal"
        assert body["features"]["feature.recommendations.enabled"] is True
        etag = first.headers["etag"]
        again = await hub.client.get(
            f"{PREFIX}/features", headers={**viewer(hub), "If-None-Match": etag}
        )
        assert again.status_code == 304
        assert again.headers["etag"] == etag
        await hub.client.post(f"{PREFIX}/rules/read-only/activate", headers=hub.auth(Role.OPERATOR))
        changed = await hub.client.get(
            f"{PREFIX}/features", headers={**viewer(hub), "If-None-Match": etag}
        )
        assert changed.status_code == 200
        assert changed.json()["features"]["feature.search.mode"] == "basic"


async def test_manual_activation_holds_until_reverted_by_hand_and_is_audited(
    degradation_hub: HubFactory, clock: FakeClock
) -> None:
    async with degradation_hub() as hub:
        operator = hub.auth(Role.OPERATOR)
        response = await hub.client.post(
            f"{PREFIX}/rules/checkout-db-down/activate",
            json={"reason": "database failover drill"},
            headers=operator,
        )
        assert response.status_code == 200, response.text
        assert response.json()["state"]["mode"] == "manual"
        await advance(hub, clock, 600)  # many checks, conditions never met: still active
        active = (await hub.client.get(f"{PREFIX}/active", headers=viewer(hub))).json()
        assert active["level"] == "severe"
        assert [item["id"] for item in active["items"]] == ["checkout-db-down"]

        reverted = await hub.client.post(
            f"{PREFIX}/rules/checkout-db-down/revert", headers=operator
        )
        assert reverted.status_code == 200
        assert reverted.json()["state"]["active"] is False
        again = await hub.client.post(f"{PREFIX}/rules/checkout-db-down/revert", headers=operator)
        assert again.status_code == 409
        unknown = await hub.client.post(f"{PREFIX}/rules/nope/activate", headers=operator)
        assert unknown.status_code == 404
        assert "checkout-db-down" in unknown.json()["error"]["message"]

        audit = (
            await hub.client.get("/api/auto-recovery/audit", headers=hub.auth(Role.ADMIN))
        ).json()["items"]
        actions = [(r["action"], r["actor"], r["target"]) for r in audit]
        assert (
            "degradation.activated",
            "token:test-operator",
            "degradation-rule:checkout-db-down",
        ) in actions
        assert (
            "degradation.reverted",
            "token:test-operator",
            "degradation-rule:checkout-db-down",
        ) in actions


async def test_a_manual_revert_is_not_undone_while_the_outage_lasts(
    degradation_hub: HubFactory, clock: FakeClock
) -> None:
    async with degradation_hub() as hub:
        fleet = Fleet(hub)
        outage = {host: "open" for host in HOSTS}
        for _ in range(4):
            await fleet.database(outage)
            await advance(hub, clock, 10)
        assert (await features(hub)).json()["level"] == "severe"
        await hub.client.post(
            f"{PREFIX}/rules/checkout-db-down/revert", headers=hub.auth(Role.OPERATOR)
        )
        for _ in range(6):
            await fleet.database(outage)
            await advance(hub, clock, 10)
        assert (await features(hub)).json()["level"] == "normal"


async def test_disable_serves_normal_values_and_refuses_activation(
    degradation_hub: HubFactory,
) -> None:
    async with degradation_hub() as hub:
        operator, admin = hub.auth(Role.OPERATOR), hub.auth(Role.ADMIN)
        await hub.client.post(f"{PREFIX}/rules/read-only/activate", headers=operator)
        off = await hub.client.post(f"{PREFIX}/disable", headers=admin)
        assert off.json() == {
            "enabled": False,
            "changed_at": off.json()["changed_at"],
            "changed_by": "token:test-admin",
        }
        body = (await features(hub)).json()
        assert body["enabled"] is False
        assert body["features"]["feature.search.mode"] == "full"
        refused = await hub.client.post(
            f"{PREFIX}/rules/checkout-db-down/activate", headers=operator
        )
        assert refused.status_code == 409
        await hub.client.post(f"{PREFIX}/enable", headers=admin)
        status = (await hub.client.get(f"{PREFIX}/status", headers=viewer(hub))).json()
        assert status["enabled"] is True
        assert status["level"] == "minimal"  # the rule stayed active while switched off
        overview = (await hub.client.get("/api/auto-recovery/overview", headers=viewer(hub))).json()
        assert overview["subsystems"]["degradation"]["level"] == "minimal"
        assert overview["subsystems"]["degradation"]["active_rules"] == 1


async def test_ofrep_bulk_and_single_evaluation(degradation_hub: HubFactory) -> None:
    async with degradation_hub() as hub:
        bulk = await hub.client.post(
            "/ofrep/v1/evaluate/flags", json={"context": {"targetingKey": "t"}}, headers=viewer(hub)
        )
        assert bulk.status_code == 200
        flags = {flag["key"]: flag for flag in bulk.json()["flags"]}
        assert flags["feature.recommendations.enabled"] == {
            "key": "feature.recommendations.enabled",
            "value": True,
            "reason": "DEFAULT",
            "variant": "normal",
            "metadata": {},
        }
        unchanged = await hub.client.post(
            "/ofrep/v1/evaluate/flags",
            json={"context": {}},
            headers={**viewer(hub), "If-None-Match": bulk.headers["etag"]},
        )
        assert unchanged.status_code == 304

        await hub.client.post(
            f"{PREFIX}/rules/checkout-db-down/activate", headers=hub.auth(Role.OPERATOR)
        )
        one = await hub.client.post(
            "/ofrep/v1/evaluate/flags/ratelimit.checkout-api.rps", json={}, headers=viewer(hub)
        )
        assert one.status_code == 200
        assert one.json()["value"] == 50
        assert one.json()["reason"] == "TARGETING_MATCH"
        assert one.json()["metadata"] == {"rule": "checkout-db-down", "level": "severe"}

        missing = await hub.client.post(
            "/ofrep/v1/evaluate/flags/no.such.flag", json={}, headers=viewer(hub)
        )
        assert missing.status_code == 404
        assert missing.json()["errorCode"] == "FLAG_NOT_FOUND"
        assert missing.json()["key"] == "no.such.flag"
        bad = await hub.client.post(
            "/ofrep/v1/evaluate/flags", json={"context": 3}, headers=viewer(hub)
        )
        assert bad.status_code == 400
        assert bad.json()["errorCode"] == "INVALID_CONTEXT"
        deep = await hub.client.post(  # deeper than Python recurses: was a 500
            "/ofrep/v1/evaluate/flags", content=b"[" * 5000, headers=viewer(hub)
        )
        assert deep.status_code == 400
        assert deep.json()["errorCode"] == "INVALID_CONTEXT"


async def test_a_recovery_step_activates_a_rule_until_reverted_by_hand(
    degradation_hub: HubFactory, clock: FakeClock
) -> None:
    async with degradation_hub() as hub:
        step = RecoveryDegradation(hub.hub.degradation)
        await step.activate("read-only", reason="recovery high-memory on web-1", actor="recovery:7")
        await step.activate("read-only", reason="again", actor="recovery:7")  # idempotent
        await advance(hub, clock, 300)
        body = (await features(hub)).json()
        assert body["level"] == "minimal"
        [rule] = (await hub.client.get(f"{PREFIX}/active", headers=viewer(hub))).json()["items"]
        assert (rule["state"]["mode"], rule["state"]["actor"]) == ("manual", "recovery:7")
