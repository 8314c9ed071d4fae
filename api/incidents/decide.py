"""Pure incident rules: what an alert or a person's action does to an incident. No I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bounceback.api.intake.event import AlertEvent, EventAction
from bounceback.api.schema import SEVERITY_RANK, IncidentState, IntakeAction, Severity


@dataclass(frozen=True)
class IncidentSnapshot:
    id: int
    state: IncidentState
    severity: Severity
    silenced_until: datetime | None = None


@dataclass(frozen=True)
class Entry:
    """One line of an incident's timeline."""

    kind: str
    actor: str
    message: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Change:
    action: IntakeAction
    open_new: bool = False
    state: IncidentState | None = None  # the state after the change
    severity: Severity | None = None
    alert: bool = False  # counts as one more alert on the incident
    set_fields: dict[str, Any] = field(default_factory=dict)
    entries: tuple[Entry, ...] = ()


class TransitionRefused(Exception):
    """A person asked for something the incident's state does not allow."""


def apply_alert(current: IncidentSnapshot | None, event: AlertEvent, now: datetime) -> Change:
    data = {"dedup_key": event.dedup_key, **event.data}
    if current is None:
        if event.action != EventAction.TRIGGER:
            # PagerDuty semantics: acknowledge/resolve with nothing open are dropped.
            return Change(action=IntakeAction.IGNORED)
        entry = Entry("triggered", event.actor, event.summary, {"severity": event.severity, **data})
        return Change(
            action=IntakeAction.CREATED,
            open_new=True,
            state=IncidentState.TRIGGERED,
            severity=event.severity,
            alert=True,
            entries=(entry,),
        )
    if event.action == EventAction.TRIGGER:
        severity = max(current.severity, event.severity, key=SEVERITY_RANK.__getitem__)
        entry = Entry("alert", event.actor, event.summary, {"severity": event.severity, **data})
        return Change(
            action=IntakeAction.UPDATED,
            state=current.state,
            severity=severity,
            alert=True,
            entries=(entry,),
        )
    if event.action == EventAction.ACKNOWLEDGE:
        if current.state == IncidentState.ACKNOWLEDGED:
            entry = Entry("alert", event.actor, "acknowledge from source (already acknowledged)")
            return Change(action=IntakeAction.UPDATED, state=current.state, entries=(entry,))
        return _acknowledged(event.actor, now, "acknowledged by the alert source", data)
    return _resolved(event.actor, now, "resolved by the alert source", data)


def _acknowledged(actor: str, now: datetime, message: str, data: dict[str, Any]) -> Change:
    return Change(
        action=IntakeAction.UPDATED,
        state=IncidentState.ACKNOWLEDGED,
        set_fields={"acknowledged_at": now, "acknowledged_by": actor},
        entries=(Entry("acknowledged", actor, message, data),),
    )


def _resolved(actor: str, now: datetime, message: str, data: dict[str, Any]) -> Change:
    return Change(
        action=IntakeAction.UPDATED,
        state=IncidentState.RESOLVED,
        set_fields={"resolved_at": now, "resolved_by": actor, "silenced_until": None},
        entries=(Entry("resolved", actor, message, data),),
    )


def acknowledge(current: IncidentSnapshot, actor: str, now: datetime) -> Change:
    if current.state == IncidentState.RESOLVED:
        raise TransitionRefused(
            "the incident is resolved; a resolved incident cannot be acknowledged"
        )
    if current.state == IncidentState.ACKNOWLEDGED:
        raise TransitionRefused("the incident is already acknowledged")
    return _acknowledged(actor, now, f"acknowledged by {actor}", {})


def resolve(current: IncidentSnapshot, actor: str, now: datetime, note: str | None) -> Change:
    if current.state == IncidentState.RESOLVED:
        raise TransitionRefused("the incident is already resolved")
    return _resolved(actor, now, f"resolved by {actor}", {"note": note} if note else {})


def silence(current: IncidentSnapshot, actor: str, now: datetime, until: datetime) -> Change:
    if current.state == IncidentState.RESOLVED:
        raise TransitionRefused("the incident is resolved; there is nothing to silence")
    if until <= now:
        raise TransitionRefused("'until' must be in the future")
    entry = Entry("silenced", actor, f"silenced until {until.isoformat()}", {"until": until})
    return Change(
        action=IntakeAction.UPDATED,
        state=current.state,
        set_fields={"silenced_until": until},
        entries=(entry,),
    )
