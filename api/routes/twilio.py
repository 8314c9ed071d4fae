"""Twilio calls back: SMS replies ("ACK 42", "RES 42") and the keys pressed during a call.

Every request's ``X-Twilio-Signature`` is checked first, against the URL Twilio was given: the
hub's public URL (BOUNCEBACK_PUBLIC_URL, for hubs behind a proxy) plus the path and query.
Unsigned or badly signed requests get 403, Twilio's own convention, and change nothing. The
answers are TwiML. Twilio's reserved words (STOP, HELP, …) are Twilio's business: they get an
empty answer and are never read as commands.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse

from bounceback.api.auth.guard import public
from bounceback.api.context import Hub
from bounceback.api.errors import Forbidden
from bounceback.api.notify import commands, voice
from bounceback.api.notify.commands import Verb
from bounceback.api.notify.config import secret

RESERVED = frozenset(
    {
        "STOP",
        "STOPALL",
        "UNSUBSCRIBE",
        "CANCEL",
        "END",
        "QUIT",
        "REVOKE",
        "OPTOUT",
        "START",
        "YES",
        "UNSTOP",
        "HELP",
        "INFO",
    }
)
_REPLY = re.compile(r"^\s*(ACK|ACKNOWLEDGE|RES|RESOLVE)\s*#?\s*(\d{1,11})\s*$", re.IGNORECASE)
USAGE = "Reply ACK <incident> to acknowledge or RES <incident> to resolve, e.g. ACK 42."
_DIGITS = {"1": Verb.ACKNOWLEDGE, "2": Verb.RESOLVE, "3": Verb.ESCALATE}


def _twiml(body: str) -> Response:
    return Response(body, media_type="application/xml")


async def verified_form(hub: Hub, request: Request) -> dict[str, str]:
    """The POSTed parameters once the request is known to come from Twilio."""
    token = secret(hub.settings.twilio_auth_token, "TWILIO_AUTH_TOKEN")
    body = (await request.body()).decode("utf-8", "replace")
    form = {k: v[0] for k, v in parse_qs(body, keep_blank_values=True).items()}
    url = hub.settings.public_url + request.url.path
    if request.url.query:
        url += "?" + request.url.query
    signature = request.headers.get("x-twilio-signature", "")
    if not token or not signature or not RequestValidator(token).validate(url, form, signature):
        raise Forbidden(
            "bad or missing X-Twilio-Signature (checked against "
            f"{url}; set BOUNCEBACK_PUBLIC_URL to the URL Twilio calls)"
        )
    return form


def parse_reply(body: str) -> tuple[Verb, int] | None:
    found = _REPLY.match(body)
    if found is None:
        return None
    verb = Verb.ACKNOWLEDGE if found.group(1).upper().startswith("ACK") else Verb.RESOLVE
    return verb, int(found.group(2))


@public
async def sms_route(request: Request) -> Response:
    hub: Hub = request.app.state.hub
    form = await verified_form(hub, request)
    body = form.get("Body", "").strip()
    reply = MessagingResponse()
    first_word = body.split(maxsplit=1)[0].upper() if body else ""
    if first_word in RESERVED:
        return _twiml(str(reply))  # opt-out and help words: Twilio answers them itself
    command = parse_reply(body)
    person = await commands.person_by_phone(hub, form.get("From", ""))
    if person is None:
        reply.message("This number is not linked to a Bounceback person; nothing changed.")
    elif command is None:
        reply.message(USAGE)
    else:
        verb, incident_id = command
        _, answer = await commands.act(hub, verb, incident_id, person, "sms")
        reply.message(answer)
    return _twiml(str(reply))


@public
async def gather_route(request: Request) -> Response:
    hub: Hub = request.app.state.hub
    form = await verified_form(hub, request)
    query = request.query_params
    try:
        incident_id = int(query["incident"])
        notification_id = int(query["notification"])
        person_id = query["person"]
    except (KeyError, ValueError):
        return _twiml(voice.say_and_hang_up("This call cannot be answered. Goodbye."))
    if query.get("noinput"):
        async with hub.db.transaction() as conn:
            await voice.unanswered(conn, notification_id, "no key pressed", hub.clock.now())
        hub.scheduler.wake()
        return _twiml(voice.say_and_hang_up("No key pressed. Goodbye."))
    verb = _DIGITS.get(form.get("Digits", ""))
    if verb is None:
        action = hub.settings.public_url + request.url.path + "?" + request.url.query
        return _twiml(voice.gather_twiml(action, "That key does nothing."))
    async with hub.db.read() as conn:
        person = (await hub.directories.load(conn)).people.get(person_id)
    if person is None:
        return _twiml(voice.say_and_hang_up("You are no longer on file. Goodbye."))
    _, answer = await commands.act(hub, verb, incident_id, person, "phone")
    return _twiml(voice.say_and_hang_up(f"{answer} Goodbye."))


routes = [
    Route("/api/integrations/twilio/sms", sms_route, methods=["POST"]),
    Route(voice.GATHER_PATH, gather_route, methods=["POST"]),
]
