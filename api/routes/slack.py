"""Slack calls back: button presses (``block_actions``) and the ``/bounceback`` slash command.

Before anything else each request's ``X-Slack-Signature`` is checked over the raw body with the
signing secret, the timestamp must be within 300 seconds of the hub's clock, and a signature
is accepted once (kept in ``used_link_nonces`` until it could no longer pass the window, so a
captured request cannot be replayed on any replica). Anything else: 401, nothing changes.

Slack wants an answer within 3 seconds. The action itself is one short transaction, so it is
done before answering, and the answer says what happened; updating the Slack messages (network
calls to Slack) is scheduled work that runs right after.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

from slack_sdk.signature import SignatureVerifier
from sqlalchemy.dialects import postgresql, sqlite
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bounceback.api.auth.guard import public
from bounceback.api.clock import Clock
from bounceback.api.context import Hub
from bounceback.api.errors import BadRequest, Unauthorized
from bounceback.api.escalation.queries import active
from bounceback.api.notify import commands
from bounceback.api.notify.commands import Verb
from bounceback.api.notify.config import secret
from bounceback.api.store.tables import used_link_nonces

WINDOW_S = 300
_WORDS = {
    "ack": Verb.ACKNOWLEDGE,
    "acknowledge": Verb.ACKNOWLEDGE,
    "res": Verb.RESOLVE,
    "resolve": Verb.RESOLVE,
    "escalate": Verb.ESCALATE,
    "silence": Verb.SILENCE,
}
USAGE = "Usage: /bounceback ack <incident>, resolve <incident>, escalate <incident>, status"


class _EpochClock:
    """The hub's clock as slack-sdk's verifier reads it (seconds since the epoch)."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock

    def now(self) -> float:
        return self._clock.now().timestamp()


async def verify(hub: Hub, request: Request) -> bytes:
    """The raw body once the request is known to come from Slack, now, for the first time."""
    signing_secret = secret(hub.settings.slack_signing_secret, "SLACK_SIGNING_SECRET")
    if not signing_secret:
        raise Unauthorized("Slack requests are refused: SLACK_SIGNING_SECRET is not set")
    body = await request.body()
    timestamp = request.headers.get("x-slack-request-timestamp")
    signature = request.headers.get("x-slack-signature")
    verifier = SignatureVerifier(signing_secret, clock=_EpochClock(hub.clock))  # type: ignore[arg-type]
    try:
        valid = verifier.is_valid(body, timestamp, signature)
    except ValueError:
        valid = False
    if not valid or timestamp is None or signature is None:
        raise Unauthorized(
            "bad or missing X-Slack-Signature, or X-Slack-Request-Timestamp is more than "
            f"{WINDOW_S} s away from now"
        )
    if not await _first_use(hub, signature, int(timestamp)):
        raise Unauthorized("this Slack request was received before (a replay)")
    return body


async def _first_use(hub: Hub, signature: str, timestamp: int) -> bool:
    now = hub.clock.now()
    expires = datetime.fromtimestamp(timestamp, UTC) + timedelta(seconds=2 * WINDOW_S)
    nonce = f"slack:{signature.removeprefix('v0=')}"[:64]
    async with hub.db.transaction() as conn:
        await conn.execute(used_link_nonces.delete().where(used_link_nonces.c.expires_at < now))
        insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
        result = await conn.execute(
            insert(used_link_nonces)
            .values(nonce=nonce, used_at=now, expires_at=expires)
            .on_conflict_do_nothing(index_elements=["nonce"])
        )
    return bool(result.rowcount)


def _form(body: bytes) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}


def _incident(text: str) -> int | None:
    text = text.strip().lstrip("#")
    return int(text) if text.isdigit() and len(text) < 12 else None


@public
async def interactions_route(request: Request) -> Response:
    hub: Hub = request.app.state.hub
    body = await verify(hub, request)
    try:
        payload: dict[str, Any] = json.loads(_form(body)["payload"])
    except (KeyError, ValueError, RecursionError):
        raise BadRequest("expected a form field 'payload' holding JSON") from None
    if payload.get("type") != "block_actions":
        return Response(status_code=200)  # other interactions are not ours to handle
    user_id = str((payload.get("user") or {}).get("id", ""))
    for action in payload.get("actions") or []:
        try:
            verb = Verb(action.get("action_id"))
        except ValueError:
            continue
        incident_id = _incident(str(action.get("value", "")))
        if incident_id is None:
            continue
        person = await commands.person_by_slack_user(hub, user_id)
        if person is None:
            note = f"<@{user_id}> is not linked to a Bounceback person; nothing changed."
            await commands.refresh_slack(hub, incident_id, note)
            return JSONResponse({"text": note})
        _, answer = await commands.act(hub, verb, incident_id, person, "slack")
        return JSONResponse({"text": answer})
    return Response(status_code=200)


@public
async def commands_route(request: Request) -> Response:
    hub: Hub = request.app.state.hub
    form = _form(await verify(hub, request))
    words = form.get("text", "").split()
    if not words or words[0].lower() in ("help", "?"):
        return _ephemeral(USAGE)
    if words[0].lower() == "status":
        return _ephemeral(await _status(hub))
    verb = _WORDS.get(words[0].lower())
    incident_id = _incident(words[1]) if len(words) == 2 else None
    if verb is None or incident_id is None:
        return _ephemeral(USAGE)
    person = await commands.person_by_slack_user(hub, form.get("user_id", ""))
    if person is None:
        return _ephemeral("Your Slack user is not linked to a Bounceback person; nothing changed.")
    _, answer = await commands.act(hub, verb, incident_id, person, "slack")
    return _ephemeral(answer)


async def _status(hub: Hub) -> str:
    async with hub.db.read() as conn:
        items = await active(conn)
    if not items:
        return "No incident is escalating."
    lines = [f"{len(items)} incident(s) escalating:"]
    for item in items[:20]:
        lines.append(
            f"#{item['incident_id']} {item['severity'].upper()} {item['summary']} "
            f"(at {item['level'] or 'start'}, next step {item['next_step_at'] or '-'})"
        )
    return "\n".join(lines)


def _ephemeral(text: str) -> Response:
    return JSONResponse({"response_type": "ephemeral", "text": text})


routes = [
    Route("/api/integrations/slack/interactions", interactions_route, methods=["POST"]),
    Route("/api/integrations/slack/commands", commands_route, methods=["POST"]),
]
