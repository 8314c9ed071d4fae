"""The Block Kit message of an incident: the same one is posted, then updated on each change.

Buttons carry the incident id as ``value`` and say what they do in ``action_id``; the
interactions endpoint (``routes/slack.py``) maps them back. Which buttons show depends on the
incident's state: nothing to press once it is resolved.
"""

from __future__ import annotations

from typing import Any

from bounceback.api.notify import render
from bounceback.api.notify.channel import Message

ACTIONS_BLOCK = "bounceback_incident"
# action_id -> the button's label; the same ids come back in block_actions payloads.
ACKNOWLEDGE, RESOLVE, ESCALATE, SILENCE = "acknowledge", "resolve", "escalate_now", "silence_1h"
LABELS = {
    ACKNOWLEDGE: "Acknowledge",
    RESOLVE: "Resolve",
    ESCALATE: "Escalate now",
    SILENCE: "Silence 1h",
}
_STYLE = {ACKNOWLEDGE: "primary", ESCALATE: "danger"}
_BY_STATE = {
    "triggered": (ACKNOWLEDGE, RESOLVE, ESCALATE, SILENCE),
    "acknowledged": (RESOLVE, SILENCE),
}
_EMOJI = {"triggered": ":red_circle:", "acknowledged": ":large_orange_circle:"}


def escape(text: str) -> str:
    """Slack's three control characters; everything else is shown as sent."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _plain(text: str, limit: int) -> dict[str, Any]:
    return {"type": "plain_text", "text": text[:limit] or " ", "emoji": True}


def _field(name: str, value: str) -> dict[str, str]:
    return {"type": "mrkdwn", "text": f"*{name}*\n{escape(value)[:500]}"}


def buttons(state: str, incident_id: int) -> list[dict[str, Any]]:
    elements = []
    for action in _BY_STATE.get(state, ()):
        button: dict[str, Any] = {
            "type": "button",
            "action_id": action,
            "text": _plain(LABELS[action], 75),
            "value": str(incident_id),
        }
        if action in _STYLE:
            button["style"] = _STYLE[action]
        elements.append(button)
    return elements


def blocks(message: Message) -> list[dict[str, Any]]:
    emoji = _EMOJI.get(message.state, ":large_green_circle:")
    fields = [
        _field("Severity", message.severity.upper()),
        _field("State", message.state),
    ]
    host = message.labels.get("host") or message.labels.get("instance")
    if host:
        fields.append(_field("Host", host))
    if message.service:
        fields.append(_field("Service", message.service))
    if message.source:
        fields.append(_field("Source", message.source))
    if message.level:
        fields.append(_field("Level", message.level))
    result: list[dict[str, Any]] = [
        {"type": "header", "text": _plain(f"{message.title}", 150)},
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": f"{emoji} {escape(render.intro(message))}"},
            "fields": fields[:10],
        },
    ]
    if message.links is not None:
        link = f"<{message.links.incident}|Open incident #{message.incident_id}>"
        result.append({"type": "context", "elements": [{"type": "mrkdwn", "text": link}]})
    if message.incident_id is not None:
        elements = buttons(message.state, message.incident_id)
        if elements:
            result.append({"type": "actions", "block_id": ACTIONS_BLOCK, "elements": elements})
    return result
