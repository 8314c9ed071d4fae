"""The escalation's stepping, as a pure function: ``advance(snapshot, state, now) -> Decision``.

Step ``s`` pages level ``s`` (the last level again for each repeat); the next step is due one
timeout after this one was *due*, not after it ran, so a late step does not push every later
level back. After the last page, one more step (a timeout later) marks the escalation
exhausted. A silenced incident holds the step until the silence ends.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from bounceback.api.escalation.models import PolicySnapshot
from bounceback.api.schema import IncidentState


class Status(StrEnum):
    ACTIVE = "active"  # waiting for its next step
    ACKNOWLEDGED = "acknowledged"  # stopped: someone is on it
    RESOLVED = "resolved"  # ended: the incident is resolved
    EXHAUSTED = "exhausted"  # every level was paged and nobody acknowledged


@dataclass(frozen=True)
class StepState:
    incident_state: IncidentState
    step: int  # the step due now (0: the first page)
    due_at: datetime
    silenced_until: datetime | None = None


@dataclass(frozen=True)
class Decision:
    status: Status
    page_level: int | None = None  # index into the snapshot's levels
    repeat: int = 0  # 0: the level's first page; n: its n-th repeat
    next_due: datetime | None = None  # when the following step is due
    next_step: int | None = None
    note: str = ""


def total_pages(snapshot: PolicySnapshot) -> int | None:
    """How many pages the policy makes; None: until acknowledged."""
    if snapshot.repeat == "until_acknowledged":
        return None
    return len(snapshot.levels) + snapshot.repeat


def advance(snapshot: PolicySnapshot, state: StepState, now: datetime) -> Decision:
    if state.incident_state == IncidentState.RESOLVED:
        return Decision(Status.RESOLVED, note="the incident is resolved")
    if state.incident_state == IncidentState.ACKNOWLEDGED:
        return Decision(Status.ACKNOWLEDGED, note="the incident is acknowledged")
    if state.silenced_until is not None and now < state.silenced_until:
        return Decision(
            Status.ACTIVE,
            next_due=state.silenced_until,
            next_step=state.step,
            note=f"silenced until {state.silenced_until.isoformat()}",
        )
    pages = total_pages(snapshot)
    if pages is not None and state.step >= pages:
        return Decision(Status.EXHAUSTED, note="every level was paged; nobody acknowledged")
    last = len(snapshot.levels) - 1
    level = min(state.step, last)
    repeat = max(0, state.step - last)
    timeout = timedelta(seconds=snapshot.levels[level].timeout_seconds)
    return Decision(
        Status.ACTIVE,
        page_level=level,
        repeat=repeat,
        next_due=state.due_at + timeout,
        next_step=state.step + 1,
    )
