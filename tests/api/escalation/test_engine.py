"""The escalation's stepping as a pure function."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bounceback.api.escalation.engine import Status, StepState, advance
from bounceback.api.escalation.models import Policy, snapshot
from bounceback.api.schema import IncidentState, Severity

T0 = datetime(2026, 1, 1, tzinfo=UTC)
SEED = (15.0, 30.0, 45.0, 60.0, 90.0)


def policy(**changes: object) -> Policy:
    return Policy.model_validate({"id": "p", "name": "P", **changes})


def test_levels_take_the_seed_timeouts_by_default() -> None:
    taken = snapshot(policy(), Severity.CRITICAL, SEED)
    assert [lv.timeout_seconds / 60 for lv in taken.levels] == list(SEED)
    assert [lv.name for lv in taken.levels] == ["L1", "L2", "L3", "L4", "L5"]


def test_each_step_pages_the_next_level_one_timeout_after_the_previous_was_due() -> None:
    taken = snapshot(policy(), Severity.CRITICAL, SEED)
    due, step, pages = T0, 0, []
    while True:
        late = due + timedelta(seconds=7)  # a late run does not push later levels back
        decision = advance(taken, StepState(IncidentState.TRIGGERED, step, due), late)
        if decision.status != Status.ACTIVE:
            assert decision.status == Status.EXHAUSTED
            break
        pages.append(((due - T0).total_seconds() / 60, decision.page_level))
        assert decision.next_due is not None and decision.next_step is not None
        due, step = decision.next_due, decision.next_step
    assert pages == [(0, 0), (15, 1), (45, 2), (90, 3), (150, 4)]
    assert (due - T0) == timedelta(minutes=240)


def test_repeat_pages_the_last_level_again() -> None:
    taken = snapshot(
        policy(levels=[{"name": "only", "timeout_minutes": 5}], repeat=2), Severity.HIGH, SEED
    )
    decisions = [advance(taken, StepState(IncidentState.TRIGGERED, s, T0), T0) for s in range(4)]
    assert [(d.page_level, d.repeat) for d in decisions[:3]] == [(0, 0), (0, 1), (0, 2)]
    assert decisions[3].status == Status.EXHAUSTED


def test_until_acknowledged_never_runs_out() -> None:
    taken = snapshot(policy(repeat="until_acknowledged"), Severity.HIGH, SEED)
    decision = advance(taken, StepState(IncidentState.TRIGGERED, 1000, T0), T0)
    assert decision.status == Status.ACTIVE and decision.page_level == 4


def test_acknowledged_and_resolved_incidents_stop_the_escalation() -> None:
    taken = snapshot(policy(), Severity.CRITICAL, SEED)
    assert (
        advance(taken, StepState(IncidentState.ACKNOWLEDGED, 1, T0), T0).status
        == Status.ACKNOWLEDGED
    )
    assert advance(taken, StepState(IncidentState.RESOLVED, 1, T0), T0).status == Status.RESOLVED


def test_a_silenced_incident_holds_its_step_until_the_silence_ends() -> None:
    taken = snapshot(policy(), Severity.CRITICAL, SEED)
    until = T0 + timedelta(hours=1)
    decision = advance(taken, StepState(IncidentState.TRIGGERED, 2, T0, until), T0)
    assert (decision.page_level, decision.next_due, decision.next_step) == (None, until, 2)


def test_phone_is_allowed_for_critical_incidents_only() -> None:
    assert snapshot(policy(), Severity.CRITICAL, SEED).allow_phone
    assert not snapshot(policy(), Severity.HIGH, SEED).allow_phone


def test_severity_channels_win_over_the_level_channels() -> None:
    level = {
        "name": "L1",
        "channels": ["email"],
        "severity_channels": {"critical": ["sms", "email"]},
    }
    assert snapshot(policy(levels=[level]), Severity.CRITICAL, SEED).levels[0].channels == (
        "sms",
        "email",
    )
    assert snapshot(policy(levels=[level]), Severity.LOW, SEED).levels[0].channels == ("email",)
