"""The Prometheus Alertmanager webhook (version 4), parsed leniently.

Unknown and newer fields (``notification_reason``, ``routeLabels``, …) are ignored. One incident
per ``groupKey``: the group firing triggers it, the group resolved resolves it.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from bounceback.api.intake.event import AlertEvent, EventAction
from bounceback.api.schema import AlertStatus, Severity

_SEVERITY_WORDS = {
    "critical": Severity.CRITICAL,
    "page": Severity.CRITICAL,
    "emergency": Severity.CRITICAL,
    "high": Severity.HIGH,
    "error": Severity.HIGH,
    "major": Severity.HIGH,
    "warning": Severity.MEDIUM,
    "warn": Severity.MEDIUM,
    "medium": Severity.MEDIUM,
    "minor": Severity.LOW,
    "low": Severity.LOW,
    "info": Severity.INFO,
    "none": Severity.INFO,
}


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore")


class AlertmanagerAlert(_Lenient):
    status: AlertStatus
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    startsAt: str | None = None
    endsAt: str | None = None
    generatorURL: str | None = None
    fingerprint: str | None = None


class AlertmanagerWebhook(_Lenient):
    version: str = "4"
    groupKey: str = Field(min_length=1, max_length=4096)
    status: AlertStatus
    receiver: str = ""
    groupLabels: dict[str, str] = Field(default_factory=dict)
    commonLabels: dict[str, str] = Field(default_factory=dict)
    commonAnnotations: dict[str, str] = Field(default_factory=dict)
    externalURL: str = ""
    truncatedAlerts: int = 0
    alerts: list[AlertmanagerAlert] = Field(default_factory=list)


def severity_of(labels: dict[str, str]) -> Severity:
    word = labels.get("severity", "").strip().lower()
    return _SEVERITY_WORDS.get(word, Severity.MEDIUM)


def summary_of(hook: AlertmanagerWebhook) -> str:
    annotations = hook.commonAnnotations
    for key in ("summary", "title", "description", "message"):
        if annotations.get(key):
            return annotations[key][:1024]
    name = hook.commonLabels.get("alertname") or hook.groupLabels.get("alertname") or "alert"
    scope = ", ".join(f"{k}={v}" for k, v in sorted(hook.groupLabels.items()) if k != "alertname")
    firing = sum(1 for alert in hook.alerts if alert.status == AlertStatus.FIRING)
    text = f"{name} ({scope})" if scope else name
    return f"{text}: {firing} firing"[:1024]


def _clip(value: str | None) -> str | None:
    return value[:255] if value is not None else None


def to_event(hook: AlertmanagerWebhook, actor: str, integration: str | None) -> AlertEvent:
    labels = hook.commonLabels
    # The worst severity among the alerts, not only the common one.
    severities = [severity_of(alert.labels) for alert in hook.alerts] or [severity_of(labels)]
    severity = min(severities, key=list(Severity).index)
    data: dict[str, Any] = {
        "receiver": hook.receiver,
        "status": hook.status.value,
        "external_url": hook.externalURL,
        "truncated_alerts": hook.truncatedAlerts,
        "alerts": [
            {
                "status": alert.status.value,
                "labels": alert.labels,
                "annotations": alert.annotations,
                "starts_at": alert.startsAt,
                "generator_url": alert.generatorURL,
                "fingerprint": alert.fingerprint,
            }
            for alert in hook.alerts[:50]
        ],
    }
    return AlertEvent(
        fingerprint=f"alertmanager:{integration or '-'}:{hook.groupKey}"[:600],
        dedup_key=hook.groupKey[:255],
        action=EventAction.TRIGGER if hook.status == AlertStatus.FIRING else EventAction.RESOLVE,
        severity=severity,
        summary=summary_of(hook),
        # Label values have no length limit; the incident's columns have (255).
        source=(labels.get("instance") or labels.get("job") or "alertmanager")[:255],
        service=_clip(labels.get("service") or labels.get("job")),
        labels=labels,
        actor=actor,
        integration=integration,
        data=data,
    )
