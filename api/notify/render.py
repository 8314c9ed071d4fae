"""Plain-text and HTML bodies of a message, shared by the channels that show one (email, cards).
Everything that came from an alert is escaped in HTML."""

from __future__ import annotations

from html import escape

from bounceback.api.notify.channel import Message, Purpose

_INTRO = {
    Purpose.PAGE: "You are paged for this incident ({level}). Acknowledge it to stop the "
    "escalation.",
    Purpose.ACKNOWLEDGED: "Someone acknowledged this incident; you were paged for it.",
    Purpose.RESOLVED: "This incident is resolved; you were paged for it.",
    Purpose.TEST: "This is a test notification from Bounceback. Nothing needs doing.",
}


def _facts(message: Message) -> list[tuple[str, str]]:
    facts = [("Severity", message.severity), ("State", message.state)]
    if message.service:
        facts.append(("Service", message.service))
    if message.source:
        facts.append(("Source", message.source))
    if message.level:
        facts.append(("Level", message.level))
    facts.extend((key, value) for key, value in sorted(message.labels.items())[:20])
    return facts


def intro(message: Message) -> str:
    return _INTRO[message.purpose].format(level=message.level or "")


def text(message: Message) -> str:
    lines = [message.title, "", intro(message), ""]
    lines += [f"{name}: {value}" for name, value in _facts(message)]
    links = message.links
    if links is not None:
        lines += ["", f"Incident: {links.incident}"]
        if links.acknowledge:
            lines.append(f"Acknowledge: {links.acknowledge}")
        if links.resolve:
            lines.append(f"Resolve: {links.resolve}")
    return "\n".join(lines) + "\n"


def _button(label: str, url: str, colour: str) -> str:
    return (
        f'<a href="{escape(url)}" style="display:inline-block;padding:8px 16px;margin-right:8px;'
        f'background:{colour};color:#fff;text-decoration:none;border-radius:4px">{label}</a>'
    )


def html(message: Message) -> str:
    rows = "".join(
        f"<tr><th align='left'>{escape(name)}</th><td>{escape(value)}</td></tr>"
        for name, value in _facts(message)
    )
    buttons = ""
    links = message.links
    if links is not None:
        if links.acknowledge:
            buttons += _button("Acknowledge", links.acknowledge, "#b45309")
        if links.resolve:
            buttons += _button("Resolve", links.resolve, "#15803d")
        buttons += f'<p><a href="{escape(links.incident)}">Open the incident</a></p>'
    return (
        "<!doctype html><html><body style='font-family:sans-serif'>"
        f"<h2>{escape(message.title)}</h2><p>{escape(intro(message))}</p>"
        f"<table>{rows}</table><p>{buttons}</p></body></html>"
    )
