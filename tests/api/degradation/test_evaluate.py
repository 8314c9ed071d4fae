"""Which degradation holds, table-driven on a fake clock: activation, hysteresis, manual holds."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

import pytest

from bounceback.api.clock import FakeClock
from bounceback.api.degradation.config import DegradationConfig, RuleConfig
from bounceback.api.degradation.evaluate import (
    Change,
    CircuitFact,
    Facts,
    IncidentFact,
    Mode,
    RuleState,
    activate_manually,
    evaluate,
    revert_manually,
)

pytestmark = pytest.mark.anyio

START = FakeClock().now()

CONFIG = DegradationConfig.model_validate(
    {
        "hold_seconds": 120,
        "services": {"checkout": ["web-1", "web-2", "web-3", "web-4"]},
        "rules": [
            {
                "id": "db-down",
                "service": "checkout",
                "level": "severe",
                "conditions": [{"kind": "circuit", "dependency": "postgres", "fraction": 0.5}],
            },
            {
                "id": "memory",
                "level": "minimal",
                "conditions": [{"kind": "metric", "metric": "memory_percent", "threshold": 90}],
            },
            {
                "id": "critical",
                "level": "moderate",
                "conditions": [{"kind": "incident", "labels": {"team": "payments"}}],
            },
            {
                "id": "by-kind",
                "service": "checkout",
                "level": "moderate",
                "match": "all",
                "conditions": [
                    {"kind": "circuit", "dependency_kind": "cache", "fraction": 1},
                    {"kind": "metric", "metric": "cpu_percent", "threshold": 50, "fraction": 1},
                ],
            },
            {"id": "manual-only", "level": "emergency"},
        ],
    }
)
RULES = {rule.id: rule for rule in CONFIG.rules}
HOSTS = ("web-1", "web-2", "web-3", "web-4")


def open_db(*hosts: str) -> Facts:
    circuits = tuple(CircuitFact(h, "postgres", "database", "open") for h in hosts)
    closed = tuple(
        CircuitFact(h, "postgres", "database", "closed") for h in HOSTS if h not in hosts
    )
    return Facts(hosts=HOSTS, services=CONFIG.services, circuits=circuits + closed)


@dataclass(frozen=True)
class Case:
    rule: str
    facts: Facts
    state: RuleState
    after: float  # seconds since START
    change: Change | None
    expected: dict[str, Any]


ACTIVE = RuleState(active=True, mode=Mode.AUTO, since=START, reason="x")
CLEARING = replace(ACTIVE, clear_since=START)

CASES = {
    "database open on half the hosts activates": Case(
        "db-down", open_db("web-1", "web-2"), RuleState(), 0, Change.ACTIVATED, {"active": True}
    ),
    "database open on one host in four does not": Case(
        "db-down", open_db("web-1"), RuleState(), 0, None, {}
    ),
    "hosts outside the service do not count": Case(
        "db-down",
        Facts(
            hosts=(*HOSTS, "db-9", "db-8"),
            services=CONFIG.services,
            circuits=(
                CircuitFact("web-1", "postgres", "database", "open"),
                CircuitFact("db-9", "postgres", "database", "open"),
                CircuitFact("db-8", "postgres", "database", "open"),
            ),
        ),
        RuleState(),
        0,
        None,
        {},
    ),
    "conditions clear starts the hold": Case(
        "db-down", open_db(), ACTIVE, 30, Change.CLEARING, {"active": True, "clear_since": 30}
    ),
    "still clear inside the hold keeps the level": Case(
        "db-down", open_db(), CLEARING, 119, None, {}
    ),
    "clear for the whole hold reverts": Case(
        "db-down", open_db(), CLEARING, 120, Change.REVERTED, {"active": False}
    ),
    "met again during the hold cancels it": Case(
        "db-down",
        open_db("web-1", "web-3"),
        CLEARING,
        60,
        Change.RECOVERED,
        {"active": True, "clear_since": None},
    ),
    "a manual activation never reverts by itself": Case(
        "db-down",
        open_db(),
        replace(ACTIVE, mode=Mode.MANUAL, clear_since=None),
        9999,
        None,
        {},
    ),
    "a manually reverted rule stays off while its conditions hold": Case(
        "db-down", open_db(*HOSTS), RuleState(suppressed=True), 0, None, {}
    ),
    "a manually reverted rule resumes once its conditions clear": Case(
        "db-down", open_db(), RuleState(suppressed=True), 0, Change.RESUMED, {"suppressed": False}
    ),
    "metric on half the fleet activates": Case(
        "memory",
        Facts(hosts=("a", "b"), metrics={"a": {"memory_percent": 95.0}, "b": {}}),
        RuleState(),
        0,
        Change.ACTIVATED,
        {"active": True},
    ),
    "metric below threshold does not": Case(
        "memory",
        Facts(hosts=("a", "b"), metrics={"a": {"memory_percent": 89.9}, "b": {}}),
        RuleState(),
        0,
        None,
        {},
    ),
    "no hosts never matches a fraction": Case("memory", Facts(), RuleState(), 0, None, {}),
    "an open critical incident with the labels activates": Case(
        "critical",
        Facts(incidents=(IncidentFact("critical", {"team": "payments", "x": "y"}),)),
        RuleState(),
        0,
        Change.ACTIVATED,
        {"active": True},
    ),
    "a high incident is below critical": Case(
        "critical",
        Facts(incidents=(IncidentFact("high", {"team": "payments"}),)),
        RuleState(),
        0,
        None,
        {},
    ),
    "other labels do not match": Case(
        "critical",
        Facts(incidents=(IncidentFact("critical", {"team": "search"}),)),
        RuleState(),
        0,
        None,
        {},
    ),
    "match all needs every condition": Case(
        "by-kind",
        Facts(
            hosts=HOSTS,
            services=CONFIG.services,
            circuits=tuple(CircuitFact(h, "redis", "cache", "open") for h in HOSTS),
        ),
        RuleState(),
        0,
        None,
        {},
    ),
    "match all with every condition met activates": Case(
        "by-kind",
        Facts(
            hosts=HOSTS,
            services=CONFIG.services,
            circuits=tuple(CircuitFact(h, "redis", "cache", "open") for h in HOSTS),
            metrics={h: {"cpu_percent": 60.0} for h in HOSTS},
        ),
        RuleState(),
        0,
        Change.ACTIVATED,
        {"active": True},
    ),
    "a rule without conditions never activates by itself": Case(
        "manual-only", open_db(*HOSTS), RuleState(), 0, None, {}
    ),
}


@pytest.mark.parametrize("case", list(CASES.values()), ids=list(CASES))
async def test_evaluate(case: Case) -> None:
    clock = FakeClock(START)
    await clock.advance(case.after)
    decisions = evaluate(
        [RULES[case.rule]], case.facts, {case.rule: case.state}, clock.now(), hold=CONFIG.hold
    )
    if case.change is None:
        assert decisions == []
        return
    [decision] = decisions
    assert decision.change == case.change, decision.message
    for name, expected in case.expected.items():
        value = getattr(decision.state, name)
        if name in ("clear_since", "since") and expected is not None:
            expected = START + timedelta(seconds=expected)
        assert value == expected, name


async def test_revert_only_after_the_hold_period_across_checks() -> None:
    clock = FakeClock(START)
    rules = [RULES["db-down"]]
    states = {"db-down": RuleState()}
    history = []
    timeline = [open_db("web-1", "web-2")] * 2 + [open_db()] * 6
    for facts in timeline:
        for decision in evaluate(rules, facts, states, clock.now(), hold=CONFIG.hold):
            states[decision.rule_id] = decision.state
            history.append((int((clock.now() - START).total_seconds()), decision.change))
        await clock.advance(30)
    assert history == [(0, Change.ACTIVATED), (60, Change.CLEARING), (180, Change.REVERTED)]


def test_manual_activation_holds_and_revert_suppresses() -> None:
    rule: RuleConfig = RULES["db-down"]
    manual = activate_manually(RuleState(), START, "maintenance", "alice")
    assert (manual.active, manual.mode, manual.actor) == (True, Mode.MANUAL, "alice")
    assert revert_manually(rule) == RuleState(suppressed=True)
    assert revert_manually(RULES["manual-only"]) == RuleState()
