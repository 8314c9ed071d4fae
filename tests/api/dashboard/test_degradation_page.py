"""The Degradation page against a real hub with rules: levels, rules, flags and history as a
viewer sees them; activate and revert as an operator (audited like the API); the switch for
admins; roles and CSRF enforced."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import pytest

from bounceback.api.auth.roles import Role
from bounceback.api.clock import FakeClock
from bounceback.api.dashboard.degradation_page import conditions_text, service_levels, switches
from bounceback.api.degradation.config import DegradationConfig
from bounceback.api.degradation.evaluate import Mode, RuleState
from bounceback.api.deployments.config import DegradationLevel
from bounceback.api.settings import HubSettings
from bounceback.api.testing import RunningHub, running_hub
from tests.api.dashboard.signin import csrf_of, signed_in
from tests.api.degradation.conftest import RULES

pytestmark = pytest.mark.anyio

HubFactory = Callable[..., AbstractAsyncContextManager[RunningHub]]
CONFIG = DegradationConfig.model_validate(RULES)


@pytest.fixture
def degradation_hub(db_settings: HubSettings, clock: FakeClock) -> HubFactory:
    @asynccontextmanager
    async def make(**settings: Any) -> AsyncIterator[RunningHub]:
        values = {**db_settings.model_dump(), "degradation": CONFIG, **settings}
        async with running_hub(HubSettings.model_validate(values), clock=clock) as running:
            yield running

    return make


async def audit(hub: RunningHub, action: str) -> list[dict[str, Any]]:
    response = await hub.client.get(
        "/api/auto-recovery/audit", params={"action": action}, headers=hub.auth(Role.ADMIN)
    )
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def test_a_viewer_sees_levels_rules_flags_and_no_buttons(
    degradation_hub: HubFactory,
) -> None:
    async with degradation_hub() as hub, signed_in(hub, Role.VIEWER) as viewer:
        page = await viewer.get("/degradation")
        assert page.status_code == 200
        text = page.text
        assert 'data-live="degradation"' in text
        assert "<h3>checkout</h3>" in text  # the rule's service, at its level
        assert "checkout-db-down" in text and "Checkout database unreachable" in text
        assert "circuit of kind database open on ≥ 50% of hosts" in text
        assert "manual only" in text  # read-only has no conditions
        assert "feature.recommendations.enabled = false" in text
        assert "<code>feature.search.mode</code>" in text
        assert "No changes yet." in text
        assert "Activate" not in text and "Revert" not in text
        assert "Disable degradation" not in text
        token = await csrf_of(viewer, "/degradation")
        forged = await viewer.post(
            "/degradation/rules/read-only/activate", data={"csrf": token, "reason": "x"}
        )
        assert forged.status_code == 403


async def test_an_operator_activates_and_reverts_a_rule_as_the_api_would(
    degradation_hub: HubFactory,
) -> None:
    async with degradation_hub() as hub, signed_in(hub, Role.OPERATOR) as operator:
        page = await operator.get("/degradation")
        assert "Activate" in page.text and "data-confirm=" in page.text
        assert "Disable degradation" not in page.text  # admins only
        no_csrf = await operator.post("/degradation/rules/read-only/activate", data={})
        assert no_csrf.status_code == 403
        token = await csrf_of(operator, "/degradation")
        done = await operator.post(
            "/degradation/rules/read-only/activate",
            data={"csrf": token, "reason": "search cluster drill"},
        )
        assert done.status_code == 303
        page = await operator.get(done.headers["location"])
        assert "Rule read-only activated." in page.text
        assert '<span class="pill active">active</span>' in page.text
        assert "search cluster drill" in page.text
        assert "Revert" in page.text
        assert '<code>"basic"</code> <span class="pill warn">degraded</span>' in page.text
        assert "by token:test-operator: search cluster drill" in page.text  # the history

        features = await hub.client.get(
            "/api/auto-recovery/degradation/features", headers=hub.auth(Role.VIEWER)
        )
        assert features.json()["features"]["feature.search.mode"] == "basic"
        [activated] = await audit(hub, "degradation.activated")
        assert activated["actor"] == "token:test-operator"
        assert activated["target"] == "degradation-rule:read-only"

        again = await operator.post("/degradation/rules/read-only/activate", data={"csrf": token})
        assert again.status_code == 303  # already active: the engine says so, no 500
        reverted = await operator.post("/degradation/rules/read-only/revert", data={"csrf": token})
        assert "notice=Rule+read-only+reverted" in reverted.headers["location"]
        [record] = await audit(hub, "degradation.reverted")
        assert record["actor"] == "token:test-operator"
        assert record["details"]["reason"] == "reverted by hand"
        twice = await operator.post("/degradation/rules/read-only/revert", data={"csrf": token})
        assert "problem=" in twice.headers["location"]
        assert "not+active" in twice.headers["location"]
        unknown = await operator.post("/degradation/rules/nope/activate", data={"csrf": token})
        assert "does+not+exist" in unknown.headers["location"]


async def test_only_an_admin_switches_degradation(degradation_hub: HubFactory) -> None:
    async with degradation_hub() as hub:
        async with signed_in(hub, Role.OPERATOR) as operator:
            token = await csrf_of(operator, "/degradation")
            refused = await operator.post("/degradation/disable", data={"csrf": token})
            assert refused.status_code == 403
        async with signed_in(hub, Role.ADMIN) as admin:
            token = await csrf_of(admin, "/degradation")
            off = await admin.post("/degradation/disable", data={"csrf": token})
            assert off.status_code == 303
            page = await admin.get(off.headers["location"])
            assert "Degradation disabled." in page.text
            assert "Enable degradation" in page.text
            assert "subsystem disabled" in page.text  # nothing to activate while off
        [record] = await audit(hub, "degradation.disable")
        assert record["actor"] == "token:test-admin"


# -- pure parts ---------------------------------------------------------------------------------


def test_conditions_and_switches_read_as_sentences() -> None:
    rule = DegradationConfig.model_validate(
        {
            "rules": [
                {
                    "id": "mixed",
                    "level": "moderate",
                    "match": "all",
                    "conditions": [
                        {"kind": "metric", "metric": "memory_percent", "threshold": 90},
                        {"kind": "incident", "severity": "high", "labels": {"team": "pay"}},
                        {"kind": "circuit", "dependency": "redis", "state": "half_open"},
                    ],
                    "actions": [
                        {"type": "rate_limit", "name": "api", "value": 50},
                        {"type": "redirect", "name": "shop", "value": "https://static"},
                    ],
                }
            ]
        }
    ).rules[0]
    assert conditions_text(rule) == (
        "memory_percent >= 90 on ≥ 50% of hosts and "
        "≥ 1 open high-or-worse incident labelled team=pay and "
        "circuit redis half-open on ≥ 50% of hosts"
    )
    assert switches(rule) == ["ratelimit.api.rps = 50", 'redirect.shop.target = "https://static"']


def test_a_service_level_counts_its_own_rules_and_the_fleets() -> None:
    active = RuleState(active=True, mode=Mode.MANUAL)
    states = {"checkout-db-down": active, "read-only": active}
    levels = service_levels(CONFIG.rules, ["checkout", "search"], states, enabled=True)
    assert levels == [
        ("checkout", DegradationLevel.SEVERE),
        ("search", DegradationLevel.MINIMAL),  # read-only covers the whole fleet
    ]
    off = service_levels(CONFIG.rules, ["checkout"], states, enabled=False)
    assert off == [("checkout", DegradationLevel.NORMAL)]
