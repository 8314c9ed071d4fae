"""The outbound webhook channel: each message as JSON, POSTed to every configured receiver,
signed so that the receiver can check it came from this hub and is recent.

Signature (docs/channels.md): ``X-Bounceback-Signature: t=<unix seconds>,v1=<hex>`` where
``hex = HMAC-SHA256(secret, "<t>.<raw body>")``. Receivers recompute it, compare in constant
time and reject a ``t`` more than 5 minutes old. ``X-Bounceback-Delivery`` (the notification id)
is the same on every retry: a receiver that got it already can ignore it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import httpx

from bounceback.api.clock import Clock
from bounceback.api.notify.channel import Message, NotifyError, Receipt, Recipient
from bounceback.api.notify.config import WebhookTarget
from bounceback.api.notify.teams import http_error
from bounceback.api.oncall.models import Person

SIGNATURE_HEADER = "X-Bounceback-Signature"


def sign(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def payload(recipient: Recipient, message: Message) -> dict[str, Any]:
    return {
        "id": message.notification_id,
        "event": message.purpose.value,
        "incident": {
            "id": message.incident_id,
            "title": message.title,
            "summary": message.summary,
            "severity": message.severity,
            "state": message.state,
            "service": message.service,
            "source": message.source,
            "labels": message.labels,
            "url": message.links.incident if message.links else None,
        },
        "level": message.level,
        "person": {"id": recipient.person_id, "name": recipient.name},
    }


class WebhookChannel:
    name = "webhook"

    def __init__(
        self,
        targets: list[tuple[WebhookTarget, str]],
        clock: Clock,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._targets = targets
        self._clock = clock
        self._transport = transport

    def address(self, person: Person) -> str | None:
        return "webhooks" if self._targets else None

    async def send(self, recipient: Recipient, message: Message) -> Receipt:
        body = json.dumps(payload(recipient, message), separators=(",", ":")).encode()
        timestamp = int(self._clock.now().timestamp())
        answers, errors = [], []
        async with httpx.AsyncClient(transport=self._transport) as client:
            for target, secret in self._targets:
                headers = {
                    "Content-Type": "application/json",
                    SIGNATURE_HEADER: sign(secret, timestamp, body),
                    "X-Bounceback-Delivery": str(message.notification_id),
                }
                try:
                    response = await client.post(
                        target.url, content=body, headers=headers, timeout=target.timeout_seconds
                    )
                except httpx.HTTPError as exc:
                    errors.append(NotifyError(f"{target.name} unreachable: {exc!r}"))
                    continue
                if response.status_code >= 300:
                    errors.append(http_error(f"webhook {target.name}", response))
                else:
                    answers.append(f"{target.name} {response.status_code}")
        if errors:
            # Retrying resends to every receiver; they deduplicate on X-Bounceback-Delivery.
            text = "; ".join(str(e) for e in errors)
            waits = [e.retry_after for e in errors if e.retry_after is not None]
            raise NotifyError(
                text,
                permanent=all(e.permanent for e in errors),
                retry_after=max(waits) if waits else None,
            )
        return Receipt(answer=", ".join(answers))
