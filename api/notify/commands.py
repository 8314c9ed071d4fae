"""What a person asks for from a channel (a Slack button or command, an SMS reply, a keypress):
acknowledge, resolve, escalate now, silence for an hour.

Acknowledge and resolve go through the escalation's actions (which record who and through which
channel); silence through the incident's; "escalate now" makes the escalation's next step due
at once. Each answer is a sentence for the person, and the incident's Slack messages are
brought up to date with that sentence in their threads (as scheduled work, never inline).
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from enum import StrEnum

from bounceback.api.context import Hub
from bounceback.api.errors import ApiError, NotFound
from bounceback.api.escalation import escalate_now as escalation_now
from bounceback.api.notify import slack
from bounceback.api.oncall.models import Person

SILENCE_FOR = timedelta(hours=1)


class Verb(StrEnum):
    ACKNOWLEDGE = "acknowledge"
    RESOLVE = "resolve"
    ESCALATE = "escalate_now"
    SILENCE = "silence_1h"


_DONE = {
    Verb.ACKNOWLEDGE: "acknowledged",
    Verb.RESOLVE: "resolved",
    Verb.ESCALATE: "escalated to the next level",
    Verb.SILENCE: "silenced for 1 hour",
}


async def people(hub: Hub) -> list[Person]:
    async with hub.db.read() as conn:
        return list((await hub.directories.load(conn)).people.values())


async def person_by_slack_user(hub: Hub, user_id: str) -> Person | None:
    return next((p for p in await people(hub) if p.slack_user_id == user_id), None)


async def person_by_phone(hub: Hub, phone: str) -> Person | None:
    return next((p for p in await people(hub) if p.phone == phone), None)


async def act(hub: Hub, verb: Verb, incident_id: int, person: Person, via: str) -> tuple[bool, str]:
    """Do ``verb``; (done, the sentence to answer the person with)."""
    actor = f"person:{person.id}"
    try:
        if verb == Verb.ACKNOWLEDGE:
            await hub.escalation.acknowledge(incident_id, actor, via)
        elif verb == Verb.RESOLVE:
            await hub.escalation.resolve(incident_id, actor, via)
        elif verb == Verb.SILENCE:
            until = hub.clock.now() + SILENCE_FOR
            await hub.incidents.silence(incident_id, actor, until)
        else:
            await escalate_now(hub, incident_id, actor, via)
    except NotFound as exc:
        return False, f"Incident #{incident_id}: {exc.message}"
    except ApiError as exc:
        done, answer = False, f"Incident #{incident_id} not {_DONE[verb]}: {exc.message}"
        note = f"{person.name} asked via {via} for {verb.value}: {exc.message}"
    else:
        done, answer = True, f"Incident #{incident_id} {_DONE[verb]} by {person.name}."
        note = f"{_DONE[verb].capitalize()} by {person.name} via {via}."
    await refresh_slack(hub, incident_id, note)
    return done, answer


async def refresh_slack(hub: Hub, incident_id: int, note: str) -> None:
    if "slack" not in hub.channels.channels:
        return
    now = hub.clock.now()
    async with hub.db.transaction() as conn:
        await slack.schedule_refresh(conn, incident_id, note, now=now, key=uuid.uuid4().hex)
    hub.scheduler.wake()


async def escalate_now(hub: Hub, incident_id: int, actor: str, via: str) -> None:
    """Page the next level now (the same path as the API and the dashboard)."""
    await escalation_now.escalate_now(
        hub.db, hub.clock, incident_id, actor, via=via, wake=hub.scheduler.wake
    )
