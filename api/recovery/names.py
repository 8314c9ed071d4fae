"""The names of recovery's scheduled work and how a step's target is spelled out."""

from __future__ import annotations

from datetime import datetime

from bounceback.api.recovery.models import Step

ADVANCE = "recovery.advance"
HUBSTEP = "recovery.hubstep"
SCAN = "recovery.scan"
WAKE = "recovery.wake"


def advance_key(attempt_id: int, at: datetime) -> str:
    return f"{ADVANCE}:{attempt_id}:{at.isoformat()}"


def resolve_target(step: Step, target: str, host: str | None) -> str:
    return step.target.replace("{target}", target).replace("{host}", host or target)
