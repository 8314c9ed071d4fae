"""People's actions on an incident: acknowledge, resolve, silence. Each one audited."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from bounceback.api import audit
from bounceback.api.clock import Clock
from bounceback.api.errors import Conflict, NotFound
from bounceback.api.escalation import handoff
from bounceback.api.incidents import store
from bounceback.api.incidents.decide import (
    Change,
    IncidentSnapshot,
    TransitionRefused,
    acknowledge,
    resolve,
    silence,
)
from bounceback.api.store.db import Database

Decision = Callable[[IncidentSnapshot, datetime], Change]


class IncidentActions:
    def __init__(
        self, db: Database, clock: Clock, *, on_handoff: Callable[[], None] | None = None
    ) -> None:
        self._db = db
        self._clock = clock
        # Called after a change that escalation must follow committed (wakes its worker).
        self._on_handoff = on_handoff

    async def acknowledge(self, incident_id: int, actor: str) -> None:
        await self._act(
            incident_id, actor, "incident.acknowledge", lambda s, now: acknowledge(s, actor, now)
        )

    async def resolve(self, incident_id: int, actor: str, note: str | None = None) -> None:
        await self._act(
            incident_id, actor, "incident.resolve", lambda s, now: resolve(s, actor, now, note)
        )

    async def silence(self, incident_id: int, actor: str, until: datetime) -> None:
        await self._act(
            incident_id, actor, "incident.silence", lambda s, now: silence(s, actor, now, until)
        )

    async def _act(self, incident_id: int, actor: str, action: str, decide: Decision) -> None:
        now = self._clock.now()
        target = f"incident:{incident_id}"
        refusal: str | None = None
        handed_off = False
        async with self._db.transaction() as conn:
            current = await store.snapshot(conn, incident_id)
            if current is None:
                outcome = "not_found"
            else:
                try:
                    change = decide(current, now)
                except TransitionRefused as exc:
                    refusal = str(exc)
                    outcome = "refused"
                else:
                    await store.update(conn, incident_id, store.update_values(change, now))
                    await store.insert_events(conn, store.event_rows(incident_id, change, now))
                    if change.state != current.state:
                        await handoff.changed(conn, incident_id, now=now)
                        handed_off = True
                    outcome = "ok"
            details = {"reason": refusal} if refusal else None
            await audit.record(
                conn,
                at=now,
                actor=actor,
                action=action,
                target=target,
                outcome=outcome,
                details=details,
            )
        if handed_off and self._on_handoff is not None:
            self._on_handoff()
        if current is None:
            raise NotFound(f"incident {incident_id} does not exist")
        if refusal is not None:
            raise Conflict(refusal, {"incident_id": incident_id, "state": current.state.value})
