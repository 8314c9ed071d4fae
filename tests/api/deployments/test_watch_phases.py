from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bounceback.api.deployment_wire import DeploymentState
from bounceback.api.deployments.verdict import Outcome
from bounceback.api.deployments.watch import (
    Schedule,
    conclusion,
    schedule_for,
    step,
    wants_rollback,
)

DEPLOYED = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def plan(monitoring_minutes: float = 60) -> Schedule:
    return schedule_for(
        DEPLOYED,
        warmup_seconds=60,
        stabilization_minutes=15,
        monitoring_minutes=monitoring_minutes,
        look_interval_seconds=300,
    )


def after(minutes: float) -> datetime:
    return DEPLOYED + timedelta(minutes=minutes)


def test_warm_up_and_stabilization_are_watched_but_not_judged() -> None:
    for minutes in (0, 0.5, 1, 10, 15.9):
        decided = step(plan(), after(minutes), last_look=0)
        assert decided.state is DeploymentState.STABILIZING
        assert decided.look is None
        assert decided.next_at == after(16 + 5)
        assert decided.next_look == 1


def test_monitoring_starts_after_warm_up_and_stabilization_then_looks_every_interval() -> None:
    schedule = plan()
    assert schedule.monitoring_starts == after(16)
    assert schedule.max_looks == 12
    at_start = step(schedule, after(16), last_look=0)
    assert at_start.state is DeploymentState.MONITORING and at_start.look is None
    first = step(schedule, after(21), last_look=0)
    assert (first.look, first.next_at, first.next_look) == (1, after(26), 2)


def test_the_last_look_is_at_the_end_of_monitoring_and_nothing_follows() -> None:
    schedule = plan(monitoring_minutes=12)  # looks at +5, +10 and the end, +12
    assert schedule.max_looks == 3
    assert schedule.look_at(3) == after(28)
    last = step(schedule, after(28), last_look=2)
    assert (last.look, last.next_at) == (3, None)


def test_missed_looks_are_not_replayed_the_latest_due_one_is_judged() -> None:
    decided = step(plan(), after(16 + 17), last_look=1)
    assert decided.look == 3
    assert (decided.next_at, decided.next_look) == (after(16 + 20), 4)


def test_a_look_already_judged_is_not_judged_again() -> None:
    decided = step(plan(), after(21), last_look=1)
    assert decided.look is None
    assert decided.next_look == 2


@pytest.mark.parametrize(
    ("outcome", "look", "expected"),
    [
        (Outcome.FAIL, 1, DeploymentState.FAILED),
        (Outcome.FAIL, 4, DeploymentState.FAILED),
        (Outcome.PASS, 1, None),
        (Outcome.INCONCLUSIVE, 3, None),
        (Outcome.NODATA, 3, None),
        (Outcome.PASS, 4, DeploymentState.SUCCEEDED),
        (Outcome.INCONCLUSIVE, 4, DeploymentState.INCONCLUSIVE),
        (Outcome.NODATA, 4, DeploymentState.INCONCLUSIVE),
    ],
)
def test_only_a_failure_ends_the_watch_early(
    outcome: Outcome, look: int, expected: DeploymentState | None
) -> None:
    assert conclusion(outcome, look, 4) is expected


def test_a_rollback_is_wanted_with_auto_rollback_on_except_for_dry_runs_and_rollbacks() -> None:
    assert wants_rollback(auto_rollback=True, dry_run=False, is_rollback=False)
    assert not wants_rollback(auto_rollback=False, dry_run=False, is_rollback=False)
    assert not wants_rollback(auto_rollback=True, dry_run=True, is_rollback=False)
    assert not wants_rollback(auto_rollback=True, dry_run=False, is_rollback=True)
