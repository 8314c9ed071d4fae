"""The pure incident rules, table by table."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bounceback.api.incidents.decide import (
    IncidentSnapshot,
    TransitionRefused,
    acknowledge,
    apply_alert,
    resolve,
    silence,
)
from bounceback.api.intake.event import AlertEvent, EventAction
from bounceback.api.schema import IncidentState, IntakeAction, Severity

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def event(action: EventAction, severity: Severity = Severity.HIGH) -> AlertEvent:
    return AlertEvent(
        fingerprint="generic:f",
        dedup_key="f",
        action=action,
        severity=severity,
        summary="disk full",
        source="test",
        actor="integration:x",
    )


def incident(state: IncidentState, severity: Severity = Severity.HIGH) -> IncidentSnapshot:
    return IncidentSnapshot(id=7, state=state, severity=severity)


def test_a_trigger_with_nothing_open_opens_a_triggered_incident() -> None:
    change = apply_alert(None, event(EventAction.TRIGGER), NOW)
    assert change.open_new
    assert change.state == IncidentState.TRIGGERED
    assert change.action == IntakeAction.CREATED
    assert [entry.kind for entry in change.entries] == ["triggered"]


@pytest.mark.parametrize("action", [EventAction.ACKNOWLEDGE, EventAction.RESOLVE])
def test_follow_ups_with_nothing_open_are_ignored(action: EventAction) -> None:
    change = apply_alert(None, event(action), NOW)
    assert change.action == IntakeAction.IGNORED
    assert not change.open_new
    assert change.entries == ()


def test_a_repeat_trigger_adds_an_alert_and_never_lowers_severity() -> None:
    change = apply_alert(
        incident(IncidentState.ACKNOWLEDGED, Severity.CRITICAL),
        event(EventAction.TRIGGER, Severity.LOW),
        NOW,
    )
    assert change.alert
    assert change.state == IncidentState.ACKNOWLEDGED
    assert change.severity == Severity.CRITICAL


def test_a_repeat_trigger_raises_severity() -> None:
    change = apply_alert(
        incident(IncidentState.TRIGGERED, Severity.LOW),
        event(EventAction.TRIGGER, Severity.CRITICAL),
        NOW,
    )
    assert change.severity == Severity.CRITICAL


@pytest.mark.parametrize(
    ("state", "action", "after"),
    [
        (IncidentState.TRIGGERED, EventAction.ACKNOWLEDGE, IncidentState.ACKNOWLEDGED),
        (IncidentState.ACKNOWLEDGED, EventAction.ACKNOWLEDGE, IncidentState.ACKNOWLEDGED),
        (IncidentState.TRIGGERED, EventAction.RESOLVE, IncidentState.RESOLVED),
        (IncidentState.ACKNOWLEDGED, EventAction.RESOLVE, IncidentState.RESOLVED),
    ],
)
def test_source_follow_ups_move_the_state(
    state: IncidentState, action: EventAction, after: IncidentState
) -> None:
    assert apply_alert(incident(state), event(action), NOW).state == after


def test_resolving_clears_a_silence() -> None:
    change = resolve(incident(IncidentState.TRIGGERED), "token:a", NOW, None)
    assert change.set_fields["silenced_until"] is None
    assert change.set_fields["resolved_by"] == "token:a"


@pytest.mark.parametrize(
    ("state", "decide"),
    [
        (IncidentState.RESOLVED, lambda s: acknowledge(s, "a", NOW)),
        (IncidentState.ACKNOWLEDGED, lambda s: acknowledge(s, "a", NOW)),
        (IncidentState.RESOLVED, lambda s: resolve(s, "a", NOW, None)),
        (IncidentState.RESOLVED, lambda s: silence(s, "a", NOW, NOW + timedelta(hours=1))),
        (IncidentState.TRIGGERED, lambda s: silence(s, "a", NOW, NOW - timedelta(seconds=1))),
    ],
)
def test_people_cannot_make_impossible_moves(state: IncidentState, decide: object) -> None:
    with pytest.raises(TransitionRefused):
        decide(incident(state))  # type: ignore[operator]


def test_silence_keeps_the_state_and_sets_the_time() -> None:
    until = NOW + timedelta(hours=1)
    change = silence(incident(IncidentState.ACKNOWLEDGED), "a", NOW, until)
    assert change.state == IncidentState.ACKNOWLEDGED
    assert change.set_fields == {"silenced_until": until}
