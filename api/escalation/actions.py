"""Acknowledge and resolve, from any path (the API, a signed email link, and the Slack, SMS and
voice callbacks the other channels add): the incident changes, its escalation stops or ends,
the timeline says who and through which channel, and the audit log records the call. One
transaction for all of it."""

from __future__ import annotations

from datetime import datetime

from bounceback.api import audit
from bounceback.api.clock import Clock
from bounceback.api.errors import Conflict, NotFound
from bounceback.api.escalation import links
from bounceback.api.escalation import store as escalation_store
from bounceback.api.escalation.steps import Escalator
from bounceback.api.incidents import store
from bounceback.api.incidents.decide import Change, TransitionRefused, acknowledge, resolve
from bounceback.api.store.db import Database


class EscalationActions:
    def __init__(self, db: Database, clock: Clock, escalator: Escalator) -> None:
        self._db = db
        self._clock = clock
        self._escalator = escalator

    async def acknowledge(self, incident_id: int, actor: str, via: str) -> None:
        await self._act(incident_id, actor, via, "acknowledge")

    async def resolve(
        self, incident_id: int, actor: str, via: str, note: str | None = None
    ) -> None:
        await self._act(incident_id, actor, via, "resolve", note=note)

    async def by_link(self, claim: links.LinkClaim) -> None:
        """Act on a verified link once; Conflict when it was used or the incident moved on."""
        await self._act(
            claim.incident_id, f"person:{claim.person_id}", "email", claim.action.value, claim=claim
        )

    async def _act(
        self,
        incident_id: int,
        actor: str,
        via: str,
        verb: str,
        *,
        note: str | None = None,
        claim: links.LinkClaim | None = None,
    ) -> None:
        now: datetime = self._clock.now()
        refusal: str | None = None
        async with self._db.transaction() as conn:
            # The escalation's row first, then the incident's: the order the escalation worker
            # locks them in, so the two never wait on each other (a deadlock on PostgreSQL).
            await escalation_store.get(conn, incident_id, lock=True)
            current = await store.snapshot(conn, incident_id)
            if current is None:
                outcome = "not_found"
            elif claim is not None and not await links.consume(conn, claim, now):
                refusal = "this link was used already; it works once"
                outcome = "refused"
            else:
                try:
                    change: Change = (
                        acknowledge(current, actor, now)
                        if verb == "acknowledge"
                        else resolve(current, actor, now, note)
                    )
                except TransitionRefused as exc:
                    refusal = str(exc)
                    outcome = "refused"
                else:
                    entries = tuple(
                        type(entry)(
                            entry.kind,
                            entry.actor,
                            f"{entry.message} via {via}",
                            {**entry.data, "via": via},
                        )
                        for entry in change.entries
                    )
                    change = Change(
                        action=change.action,
                        state=change.state,
                        set_fields=change.set_fields,
                        entries=entries,
                    )
                    await store.update(conn, incident_id, store.update_values(change, now))
                    await store.insert_events(conn, store.event_rows(incident_id, change, now))
                    await self._escalator.follow(conn, incident_id, via=via)
                    outcome = "ok"
            await audit.record(
                conn,
                at=now,
                actor=actor,
                action=f"escalation.{verb}",
                target=f"incident:{incident_id}",
                outcome=outcome,
                details={"via": via, **({"reason": refusal} if refusal else {})},
            )
        if current is None:
            raise NotFound(f"incident {incident_id} does not exist")
        if refusal is not None:
            raise Conflict(refusal, {"incident_id": incident_id, "state": current.state.value})
