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

from bounceback.api import audit
from bounceback.api.context import Hub
from bounceback.api.errors import ApiError, Conflict, NotFound
from bounceback.api.escalation import store as escalation_store
from bounceback.api.escalation.engine import Status
from bounceback.api.escalation.steps import step_key
from bounceback.api.notify import slack
from bounceback.api.oncall.models import Person
from bounceback.api.store.tables import scheduled_work
from bounceback.api.work.queue import WorkState

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
    """Page the next level now; the levels after it keep their timeouts from now on."""
    now = hub.clock.now()
    refusal: str | None = None
    async with hub.db.transaction() as conn:
        escalation = await escalation_store.get(conn, incident_id, lock=True)
        if escalation is None:
            refusal = "it has no escalation (no policy took it)"
        elif escalation.status != Status.ACTIVE:
            refusal = f"its escalation is {escalation.status.value}"
        else:
            result = await conn.execute(
                scheduled_work.update()
                .where(
                    scheduled_work.c.key == step_key(incident_id, escalation.step),
                    scheduled_work.c.state == WorkState.PENDING.value,
                    scheduled_work.c.lease_owner.is_(None),
                )
                .values(due_at=now)
            )
            if not result.rowcount:
                refusal = "its next step is running already"
            else:
                await escalation_store.update(
                    conn, incident_id, {"next_step_at": now, "updated_at": now}
                )
                await escalation_store.timeline(
                    conn,
                    incident_id,
                    kind="escalation",
                    actor=actor,
                    message=f"escalate now: asked by {actor} via {via}",
                    now=now,
                    data={"via": via},
                )
        await audit.record(
            conn,
            at=now,
            actor=actor,
            action="escalation.escalate_now",
            target=f"incident:{incident_id}",
            outcome="refused" if refusal else "ok",
            details={"via": via, **({"reason": refusal} if refusal else {})},
        )
    if refusal is not None:
        if escalation is None:
            async with hub.db.read() as conn:
                if await escalation_store.incident(conn, incident_id, lock=False) is None:
                    raise NotFound(f"incident {incident_id} does not exist")
        raise Conflict(refusal, {"incident_id": incident_id})
    hub.scheduler.wake()
