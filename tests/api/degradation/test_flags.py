"""The flag snapshot: normal values by default, the highest active rule wins, a stable ETag."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from bounceback.api.degradation.config import DegradationConfig
from bounceback.api.degradation.evaluate import Mode, RuleState
from bounceback.api.degradation.flags import Reason, etag_matches, snapshot

CONFIG = DegradationConfig.model_validate(
    {
        "rules": [
            {
                "id": "db-down",
                "service": "checkout",
                "level": "severe",
                "actions": [
                    {"type": "disable_feature", "name": "recommendations"},
                    {"type": "cached_content", "name": "catalog"},
                    {"type": "rate_limit", "name": "api", "value": 50},
                    {"type": "redirect", "name": "checkout", "value": "static"},
                ],
            },
            {
                "id": "slow",
                "level": "minimal",
                "actions": [
                    {"type": "rate_limit", "name": "api", "value": 200},
                    {"type": "reduce_functionality", "name": "search", "value": "basic"},
                    {"type": "flag", "name": "banner.text", "value": "busy", "default": ""},
                ],
            },
        ]
    }
)
ON = RuleState(active=True, mode=Mode.AUTO)


def test_every_flag_has_its_normal_value_when_nothing_is_active() -> None:
    shot = snapshot(CONFIG.rules, {}, enabled=True)
    assert shot.values() == {
        "degradation.level": "normal",
        "degradation.checkout.level": "normal",
        "feature.recommendations.enabled": True,
        "cache.catalog.serve_stale": False,
        "ratelimit.api.rps": 0,
        "redirect.checkout.target": "",
        "feature.search.mode": "full",
        "banner.text": "",
    }
    assert {flag.reason for flag in shot.flags.values()} == {Reason.DEFAULT}


def test_the_highest_active_rule_sets_a_shared_flag() -> None:
    shot = snapshot(CONFIG.rules, {"db-down": ON, "slow": ON}, enabled=True)
    assert shot.flags["ratelimit.api.rps"].value == 50
    assert shot.flags["ratelimit.api.rps"].metadata == {"rule": "db-down", "level": "severe"}
    assert shot.flags["feature.recommendations.enabled"].value is False
    assert shot.flags["feature.search.mode"].value == "basic"
    assert shot.flags["degradation.level"].value == "severe"
    assert shot.flags["degradation.level"].reason == Reason.TARGETING_MATCH


def test_a_fleet_rule_counts_for_each_service_but_a_service_rule_not_for_others() -> None:
    shot = snapshot(CONFIG.rules, {"slow": ON}, enabled=True)
    assert shot.flags["degradation.checkout.level"].value == "minimal"
    assert shot.flags["ratelimit.api.rps"].value == 200


def test_disabled_serves_normal_values() -> None:
    shot = snapshot(CONFIG.rules, {"db-down": ON}, enabled=False)
    assert shot.values()["feature.recommendations.enabled"] is True
    assert shot.flags["degradation.level"].reason == Reason.DISABLED


def test_the_etag_changes_with_the_values_only() -> None:
    before = snapshot(CONFIG.rules, {}, enabled=True).etag
    assert snapshot(CONFIG.rules, {}, enabled=True).etag == before
    after = snapshot(CONFIG.rules, {"slow": ON}, enabled=True).etag
    assert after != before
    assert etag_matches(before, before)
    assert etag_matches(f'W/{before}, "other"', before)
    assert etag_matches("*", before)
    assert not etag_matches(after, before)
    assert not etag_matches(None, before)


@pytest.mark.parametrize(
    "rule",
    [
        {"id": "x", "level": "normal"},
        {"id": "x", "level": "severe", "actions": [{"type": "rate_limit", "name": "a"}]},
        {"id": "x", "level": "severe", "actions": [{"type": "flag", "name": "a", "value": 1}]},
        {"id": "x", "level": "severe", "conditions": [{"kind": "circuit"}]},
        {"id": "Bad Id", "level": "severe"},
    ],
)
def test_bad_rules_are_refused(rule: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        DegradationConfig.model_validate({"rules": [rule]})
