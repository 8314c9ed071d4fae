"""The one shape every alert source is turned into before it touches an incident."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from bounceback.api.schema import Severity


class EventAction(StrEnum):
    TRIGGER = "trigger"
    ACKNOWLEDGE = "acknowledge"
    RESOLVE = "resolve"


@dataclass(frozen=True)
class AlertEvent:
    # Scoped by source, so that keys from different integrations never collide.
    fingerprint: str
    # What the sender knows the incident by (PagerDuty dedup_key, Alertmanager groupKey, …).
    dedup_key: str
    action: EventAction
    severity: Severity
    summary: str
    source: str
    actor: str
    service: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    integration: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
