"""The Microsoft Teams channel: an Adaptive Card posted to a channel's incoming webhook, with
the incident's facts and the same signed one-click acknowledge/resolve links as email.

An incoming webhook belongs to a Teams channel, not to a person: everyone who lists ``teams``
among their channels is paged through the one configured webhook, each card naming who is paged
and carrying links signed for that person.
"""

from __future__ import annotations

from typing import Any

import httpx

from bounceback.api.notify import render
from bounceback.api.notify.channel import Message, NotifyError, Receipt, Recipient
from bounceback.api.oncall.models import Person

_COLOUR = {"critical": "attention", "error": "attention", "warning": "warning"}


def card(recipient: Recipient, message: Message) -> dict[str, Any]:
    facts = [{"title": "Paged", "value": f"{recipient.name} ({message.level or '-'})"}]
    facts += [
        {"title": name, "value": value}
        for name, value in (
            ("Severity", message.severity),
            ("State", message.state),
            ("Service", message.service),
            ("Source", message.source),
        )
        if value
    ]
    actions: list[dict[str, str]] = []
    if message.links is not None:
        if message.links.acknowledge:
            actions.append(
                {"type": "Action.OpenUrl", "title": "Acknowledge", "url": message.links.acknowledge}
            )
        if message.links.resolve:
            actions.append(
                {"type": "Action.OpenUrl", "title": "Resolve", "url": message.links.resolve}
            )
        actions.append(
            {"type": "Action.OpenUrl", "title": "Open incident", "url": message.links.incident}
        )
    content = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": [
            {
                "type": "TextBlock",
                "text": message.title,
                "weight": "Bolder",
                "size": "Medium",
                "wrap": True,
                "color": _COLOUR.get(message.severity, "default"),
            },
            {"type": "TextBlock", "text": render.intro(message), "wrap": True},
            {"type": "FactSet", "facts": facts},
        ],
        "actions": actions,
    }
    return {
        "type": "message",
        "attachments": [
            {
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": None,
                "content": content,
            }
        ],
    }


def http_error(provider: str, response: httpx.Response) -> NotifyError:
    text = f"{provider} answered {response.status_code}: {response.text[:200]}"
    if response.status_code == 429:
        try:
            wait = float(response.headers.get("retry-after", "30"))
        except ValueError:
            wait = 30.0
        return NotifyError(text, retry_after=wait)
    if response.status_code >= 500 or response.status_code == 408:
        return NotifyError(text)
    return NotifyError(text, permanent=True)


class TeamsChannel:
    name = "teams"

    def __init__(
        self, webhook_url: str, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self._url = webhook_url
        self._transport = transport

    def address(self, person: Person) -> str | None:
        return "teams-webhook"  # the URL is a secret: kept here, never on the timeline

    async def send(self, recipient: Recipient, message: Message) -> Receipt:
        try:
            async with httpx.AsyncClient(transport=self._transport, timeout=10) as client:
                response = await client.post(self._url, json=card(recipient, message))
        except httpx.HTTPError as exc:
            raise NotifyError(f"Teams unreachable: {type(exc).__name__}: {exc}") from exc
        if response.status_code >= 300:
            raise http_error("Teams", response)
        return Receipt(answer=f"Teams {response.status_code}")
