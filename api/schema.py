"""Wire models shared by the hub, the agent and the guard. No Starlette here."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

# The store's ids are INTEGER (PostgreSQL's int4): a larger one names nothing and must be refused
# before it reaches a query, where PostgreSQL would fail on it (SQLite on anything past int8).
MAX_ID = 2**31 - 1
MAX_BIGINT = 2**63 - 1


class Severity(StrEnum):
    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    INFO = "info"


SEVERITY_RANK = {
    Severity.CRITICAL: 5,
    Severity.HIGH: 4,
    Severity.MEDIUM: 3,
    Severity.LOW: 2,
    Severity.INFO: 1,
}


class IncidentState(StrEnum):
    TRIGGERED = "triggered"  # open, nobody has taken it
    ACKNOWLEDGED = "acknowledged"  # someone is on it; escalation stops
    RESOLVED = "resolved"  # closed; a new alert with the same fingerprint opens a new incident


class AlertStatus(StrEnum):
    FIRING = "firing"
    RESOLVED = "resolved"


Labels = dict[str, str]


class GenericAlert(BaseModel):
    """``POST /api/alerts``."""

    model_config = ConfigDict(extra="forbid")

    source: str = Field(min_length=1, max_length=255)
    summary: str = Field(min_length=1, max_length=1024)
    severity: Severity = Severity.MEDIUM
    status: AlertStatus = AlertStatus.FIRING
    labels: Labels = Field(default_factory=dict, max_length=64)
    service: str | None = Field(None, max_length=255)
    fingerprint: str | None = Field(None, min_length=1, max_length=255)
    details: dict[str, Any] = Field(default_factory=dict)


class IntakeAction(StrEnum):
    CREATED = "created"  # a new incident was opened
    UPDATED = "updated"  # the alert was added to an open incident
    IGNORED = "ignored"  # nothing open to apply it to (e.g. resolve after resolve)


class IntakeResult(BaseModel):
    action: IntakeAction
    incident_id: int | None
    dedup_key: str
    state: IncidentState | None


class Incident(BaseModel):
    id: int
    state: IncidentState
    severity: Severity
    summary: str
    source: str
    service: str | None
    labels: Labels
    dedup_key: str
    integration: str | None
    alert_count: int
    created_at: datetime
    updated_at: datetime
    last_alert_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    resolved_at: datetime | None
    resolved_by: str | None
    silenced_until: datetime | None


class TimelineEvent(BaseModel):
    at: datetime
    kind: str
    actor: str
    message: str
    data: dict[str, Any]


class IncidentDetail(Incident):
    timeline: list[TimelineEvent]


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None
