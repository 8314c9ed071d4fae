"""A PagerDuty Events API v2-compatible endpoint: anything that can page PagerDuty can page us."""

from __future__ import annotations

import json
import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from bounceback.api.intake.event import AlertEvent, EventAction
from bounceback.api.schema import Severity

_SEVERITIES = {
    "critical": Severity.CRITICAL,
    "error": Severity.HIGH,
    "warning": Severity.MEDIUM,
    "info": Severity.INFO,
}


class PagerDutyPayload(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    summary: str = Field(min_length=1, max_length=1024)
    source: str = Field(min_length=1, max_length=255)
    severity: Literal["critical", "error", "warning", "info"]
    timestamp: str | None = None
    component: str | None = None
    group: str | None = None
    class_: str | None = Field(None, alias="class")
    custom_details: Any = None


class PagerDutyEvent(BaseModel):
    model_config = ConfigDict(extra="ignore")

    routing_key: str | None = Field(None, max_length=64)
    event_action: Literal["trigger", "acknowledge", "resolve"]
    dedup_key: str | None = Field(None, min_length=1, max_length=255)
    payload: PagerDutyPayload | None = None
    client: str | None = None
    client_url: str | None = None
    links: list[dict[str, Any]] = Field(default_factory=list)
    images: list[dict[str, Any]] = Field(default_factory=list)

    @model_validator(mode="after")
    def _required_by_action(self) -> PagerDutyEvent:
        if self.event_action == "trigger" and self.payload is None:
            raise ValueError("payload is required for event_action trigger")
        if self.event_action != "trigger" and self.dedup_key is None:
            raise ValueError(f"dedup_key is required for event_action {self.event_action}")
        return self


def routing_key_of(body: bytes) -> str | None:
    """The routing_key of a raw event, if it has one, without validating the rest."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):  # RecursionError: nested deeper than Python recurses
        return None
    key = data.get("routing_key") if isinstance(data, dict) else None
    return key if isinstance(key, str) and key else None


def to_event(event: PagerDutyEvent, actor: str, integration: str | None) -> AlertEvent:
    # A trigger without dedup_key always opens a new incident, under a fresh key we return.
    dedup_key = event.dedup_key or uuid.uuid4().hex
    payload = event.payload
    data: dict[str, Any] = {"event_action": event.event_action}
    if payload is not None:
        details = {
            "component": payload.component,
            "group": payload.group,
            "class": payload.class_,
            "timestamp": payload.timestamp,
            "custom_details": payload.custom_details,
        }
        data.update({key: value for key, value in details.items() if value is not None})
    if event.client:
        data["client"] = event.client
    if event.client_url:
        data["client_url"] = event.client_url
    if event.links:
        data["links"] = event.links[:10]
    labels = {}
    if payload is not None:
        for key in ("component", "group", "class_"):
            value = getattr(payload, key)
            if isinstance(value, str):
                labels[key.rstrip("_")] = value
    return AlertEvent(
        # Follow-up events only apply through the same integration, as in PagerDuty.
        fingerprint=f"pagerduty:{integration or '-'}:{dedup_key}",
        dedup_key=dedup_key,
        action=EventAction(event.event_action),
        severity=_SEVERITIES[payload.severity] if payload else Severity.MEDIUM,
        summary=payload.summary if payload else "",
        source=payload.source if payload else "pagerduty",
        service=payload.component[:255] if payload and payload.component is not None else None,
        labels=labels,
        actor=actor,
        integration=integration,
        data=data,
    )
