"""``POST /api/alerts``: Bounceback's own alert format."""

from __future__ import annotations

import hashlib
import json

from bounceback.api.intake.event import AlertEvent, EventAction
from bounceback.api.schema import AlertStatus, GenericAlert


def default_fingerprint(alert: GenericAlert) -> str:
    """Same source and labels (or, without labels, the same summary) mean the same problem."""
    basis = (
        {"source": alert.source, "labels": alert.labels}
        if alert.labels
        else {
            "source": alert.source,
            "summary": alert.summary,
        }
    )
    encoded = json.dumps(basis, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(encoded).hexdigest()[:32]


def to_event(alert: GenericAlert, actor: str, integration: str | None) -> AlertEvent:
    dedup_key = alert.fingerprint or default_fingerprint(alert)
    labelled = alert.labels.get("service")  # no length limit; the incident's column has 255
    return AlertEvent(
        fingerprint=f"generic:{dedup_key}",
        dedup_key=dedup_key,
        action=EventAction.TRIGGER if alert.status == AlertStatus.FIRING else EventAction.RESOLVE,
        severity=alert.severity,
        summary=alert.summary,
        source=alert.source,
        service=alert.service or (labelled[:255] if labelled is not None else None),
        labels=alert.labels,
        actor=actor,
        integration=integration,
        data={"details": alert.details} if alert.details else {},
    )
