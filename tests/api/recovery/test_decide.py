"""The pure decisions of recovery, table-driven with a fake clock."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bounceback.api.clock import FakeClock
from bounceback.api.recovery.decide import (
    AttemptFacts,
    IncidentFacts,
    Phase,
    Safety,
    State,
    advance,
    breached,
    check,
    matches_incident,
    track,
)
from bounceback.api.recovery.models import PREDEFINED, Verify

NOW = FakeClock().now()
MEMORY = PREDEFINED[0]
DEPLOY = PREDEFINED[4]
MIN = timedelta(minutes=1)


@pytest.mark.parametrize(
    ("thresholds", "metrics", "expected"),
    [
        ({"memory_percent": 90}, {"memory_percent": 95}, True),
        ({"memory_percent": 90}, {"memory_percent": 90}, False),
        ({"memory_percent": 90}, {}, False),
        ({"disk_percent": 90}, {"disk_percent:/": 10, "disk_percent:/var": 93}, True),
        ({"disk_percent": 90, "cpu_percent": 50}, {"disk_percent:/": 95, "cpu_percent": 10}, False),
        ({}, {"memory_percent": 99}, False),
    ],
)
def test_breached_needs_every_threshold_exceeded(
    thresholds: dict[str, float], metrics: dict[str, float], expected: bool
) -> None:
    assert breached(thresholds, metrics) is expected


@pytest.mark.parametrize(
    ("since", "is_breached", "fire", "new_since"),
    [
        (None, False, False, None),
        (None, True, False, NOW),
        (NOW - 4 * MIN, True, False, NOW - 4 * MIN),
        (NOW - 5 * MIN, True, True, NOW),
        (NOW - 9 * MIN, False, False, None),
    ],
)
def test_a_threshold_fires_only_when_held_for_the_duration(
    since: object, is_breached: bool, fire: bool, new_since: object
) -> None:
    hold = track(since, is_breached, NOW, 5 * MIN)  # type: ignore[arg-type]
    assert (hold.fire, hold.since) == (fire, new_since)


def safety(**changes: object) -> Safety:
    values: dict[str, object] = {
        "enabled": True,
        "manual": False,
        "action": MEMORY,
        "open_for_pair": False,
        "last_episode_of_pair": None,
        "last_episode_on_target": None,
        "active": 0,
        "max_concurrent": 5,
        "global_cooldown": 5 * MIN,
    }
    values.update(changes)
    return Safety(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("changes", "allowed", "failing"),
    [
        ({}, True, []),
        ({"enabled": False}, False, ["enabled"]),
        ({"open_for_pair": True}, False, ["one_at_a_time"]),
        ({"last_episode_of_pair": NOW - 9 * MIN}, False, ["cooldown"]),
        ({"last_episode_of_pair": NOW - 10 * MIN}, True, []),
        ({"last_episode_on_target": NOW - 4 * MIN}, False, ["global_cooldown"]),
        ({"last_episode_of_pair": NOW - MIN, "manual": True}, True, []),
        ({"action": MEMORY.model_copy(update={"auto_execute": False})}, False, ["auto_execute"]),
        ({"action": MEMORY.model_copy(update={"auto_execute": False}), "manual": True}, True, []),
        ({"active": 5}, True, []),  # concurrency makes it wait, never refuses
    ],
)
def test_safety(changes: dict[str, object], allowed: bool, failing: list[str]) -> None:
    verdict = check(safety(**changes), NOW)
    assert verdict.allowed is allowed
    assert [c.name for c in verdict.checks if not c.passed] == failing


def facts(state: State, **changes: object) -> AttemptFacts:
    values: dict[str, object] = {
        "state": state,
        "phase_started_at": NOW - MIN,
        "try_number": 1,
        "max_retries": 2,
        "step_outcomes": ["done", "done"],
        "step_deadline": NOW + MIN,
        "verify": Verify(delay_seconds=30, timeout_seconds=300),
        "thresholds": {"memory_percent": 90},
        "metrics": {"memory_percent": 95},
        "metrics_at": NOW,
        "active": 0,
        "max_concurrent": 5,
    }
    values.update(changes)
    return AttemptFacts(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("state", "changes", "expected", "run", "retry", "human"),
    [
        (State.PENDING, {"active": 5}, State.PENDING, None, False, False),
        (State.PENDING, {"active": 4}, State.RUNNING, Phase.IMMEDIATE, False, False),
        (
            State.RUNNING,
            {"step_outcomes": ["done", "delivered"]},
            State.RUNNING,
            None,
            False,
            False,
        ),
        (State.RUNNING, {}, State.VERIFYING, None, False, False),
        (State.RUNNING, {"verify": None}, State.SUCCEEDED, None, False, False),
        (
            State.RUNNING,
            {"step_outcomes": ["refused", "done"]},
            State.ROLLED_BACK,
            Phase.ROLLBACK,
            True,
            False,
        ),
        (
            State.RUNNING,
            {"step_outcomes": ["pending"], "step_deadline": NOW},
            State.ROLLED_BACK,
            Phase.ROLLBACK,
            True,
            False,
        ),
        (
            State.RUNNING,
            {"step_outcomes": ["failed"], "try_number": 2},
            State.ESCALATED,
            Phase.ROLLBACK,
            False,
            True,
        ),
        (State.VERIFYING, {"metrics": {"memory_percent": 50}}, State.SUCCEEDED, None, False, False),
        (
            State.VERIFYING,
            {"metrics": {"memory_percent": 50}, "metrics_at": NOW - 2 * MIN},
            State.VERIFYING,
            None,
            False,
            False,
        ),
        (State.VERIFYING, {}, State.VERIFYING, None, False, False),
        (
            State.VERIFYING,
            {"phase_started_at": NOW - 5 * MIN, "metrics_at": NOW},
            State.ROLLED_BACK,
            Phase.ROLLBACK,
            True,
            False,
        ),
    ],
)
def test_an_attempt_moves_through_its_states(
    state: State,
    changes: dict[str, object],
    expected: State,
    run: Phase | None,
    retry: bool,
    human: bool,
) -> None:
    decision = advance(facts(state, **changes), NOW)
    assert (decision.state, decision.run, decision.retry, decision.needs_human) == (
        expected,
        run,
        retry,
        human,
    )
    if decision.state in (State.ROLLED_BACK, State.ESCALATED):
        assert decision.passed_through == (State.FAILED,)


def test_incident_matchers() -> None:
    incident = IncidentFacts(
        "critical", "alertmanager", "deploy broke", "shop", {"alert": "deployment_failed"}
    )
    assert matches_incident(DEPLOY, incident)
    assert not matches_incident(MEMORY, incident)
    other = IncidentFacts("critical", "alertmanager", "x", "shop", {"alert": "disk"})
    assert not matches_incident(DEPLOY, other)
