"""The escalation engine's executor: the transactional handlers of its scheduled work.

``escalation.sync`` starts escalations for incidents handed off (``handoff``) and follows
incidents acknowledged or resolved elsewhere; ``escalation.step`` pages the next level when it
is due. Each runs in the transaction that records its work as done, so a decision, the outbox
rows it writes and the next step commit together, once. The decision itself is ``engine.advance``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from bounceback.api.clock import Clock
from bounceback.api.escalation import store
from bounceback.api.escalation.directory import Directories, Directory
from bounceback.api.escalation.engine import Status, StepState, advance
from bounceback.api.escalation.models import route_incident, snapshot
from bounceback.api.escalation.store import EscalationRow, IncidentView
from bounceback.api.notify import outbox, slack
from bounceback.api.notify.channel import Purpose
from bounceback.api.notify.registry import ChannelRegistry
from bounceback.api.schema import IncidentState
from bounceback.api.settings import HubSettings
from bounceback.api.work import queue
from bounceback.api.work.queue import WorkItem
from bounceback.api.work.scheduler import Outcome

_REFRESHED_BY_CALLER = frozenset({"slack", "sms", "phone"})

STEP = "escalation.step"
ACTOR = "escalation"


def step_key(incident_id: int, step: int) -> str:
    return f"{STEP}:{incident_id}:{step}"


class Escalator:
    def __init__(
        self,
        settings: HubSettings,
        clock: Clock,
        directories: Directories,
        channels: ChannelRegistry,
    ) -> None:
        self._settings = settings
        self._clock = clock
        self._directories = directories
        self._channels = channels
        s = settings
        self._seed_minutes = (
            s.l1_timeout_minutes,
            s.l2_timeout_minutes,
            s.l3_timeout_minutes,
            s.l4_timeout_minutes,
            s.l5_timeout_minutes,
        )
        self.steps_taken = 0

    # Scheduled work -------------------------------------------------------------------------

    async def sync(self, item: WorkItem, conn: AsyncConnection) -> Outcome:
        reason = str(item.payload.get("reason") or "alert intake")
        for incident_id in item.payload.get("opened", []):
            await self.start(conn, int(incident_id), reason)
        for incident_id in item.payload.get("changed", []):
            await self.follow(conn, int(incident_id))
        return None

    async def step(self, item: WorkItem, conn: AsyncConnection) -> Outcome:
        incident_id = int(item.payload["incident_id"])
        escalation = await store.get(conn, incident_id, lock=True)
        if (
            escalation is None
            or escalation.status != Status.ACTIVE
            or escalation.step != item.payload.get("step")
        ):
            return None  # ended, or replaced by a later step
        incident = await store.incident(conn, incident_id, lock=True)
        if incident is None:
            return None
        await self._take_step(conn, incident, escalation, await self._directories.load(conn))
        return None

    # Starting, stepping, following ------------------------------------------------------------

    async def start(self, conn: AsyncConnection, incident_id: int, reason: str) -> None:
        incident = await store.incident(conn, incident_id, lock=True)
        if incident is None or incident.state != IncidentState.TRIGGERED:
            return
        if await store.get(conn, incident_id, lock=False) is not None:
            return
        now = self._clock.now()
        if not self._settings.escalation_enabled:
            return
        directory = await self._directories.load(conn)
        policy = route_incident(
            list(directory.policies.values()), incident.severity, incident.service, incident.labels
        )
        if policy is None:
            if directory.policies:  # with none configured, escalation is simply not set up
                await self._note(conn, incident_id, "not escalated: no policy matches", now)
            return
        taken = snapshot(policy, incident.severity, self._seed_minutes)
        if not await store.insert(conn, incident_id, taken, reason, now):
            return
        await self._note(
            conn,
            incident_id,
            f"escalation started: policy {policy.name} ({reason})",
            now,
            {"policy": policy.id, "snapshot": taken.model_dump(mode="json")},
        )
        escalation = await store.get(conn, incident_id, lock=False)
        assert escalation is not None
        await self._take_step(conn, incident, escalation, directory)

    async def _take_step(
        self,
        conn: AsyncConnection,
        incident: IncidentView,
        escalation: EscalationRow,
        directory: Directory,
    ) -> None:
        now = self._clock.now()
        due = escalation.next_step_at or now
        state = StepState(incident.state, escalation.step, due, incident.silenced_until)
        decision = advance(escalation.snapshot, state, now)
        self.steps_taken += 1
        values: dict[str, Any] = {"status": decision.status.value, "updated_at": now}
        if decision.page_level is not None:
            await self._page(conn, incident, escalation, decision.page_level, decision.repeat)
            values["level"] = decision.page_level
        if decision.status == Status.ACTIVE:
            assert decision.next_due is not None and decision.next_step is not None
            values.update(step=decision.next_step, next_step_at=decision.next_due)
            key = step_key(incident.id, decision.next_step)
            if decision.next_step == escalation.step:
                # Held (a silence): the row under the step's own key is the one running now, so
                # the step is taken again from a row of its own, keyed by when it is due.
                key = f"{key}:held:{decision.next_due.isoformat()}"
            await queue.schedule(
                conn,
                kind=STEP,
                key=key,
                due_at=decision.next_due,
                now=now,
                payload={"incident_id": incident.id, "step": decision.next_step},
                max_attempts=10,
            )
        else:
            values.update(next_step_at=None, ended_at=now)
            await self._note(conn, incident.id, f"escalation ended: {decision.note}", now)
            if decision.status == Status.RESOLVED:
                await self._tell_paged(conn, incident, Purpose.RESOLVED, now)
        await store.update(conn, incident.id, values)

    async def _page(
        self,
        conn: AsyncConnection,
        incident: IncidentView,
        escalation: EscalationRow,
        level_index: int,
        repeat: int,
    ) -> None:
        now = self._clock.now()
        level = escalation.snapshot.levels[level_index]
        directory = await self._directories.load(conn)
        people = directory.resolve(level.targets, now)
        label = level.name + (f" (repeat {repeat})" if repeat else "")
        paged: list[dict[str, Any]] = []
        unreachable: list[str] = []
        for person in people:
            channels = outbox.plan_channels(
                person,
                level.channels,
                allow_phone=escalation.snapshot.allow_phone,
                registry=self._channels,
            )
            if not channels:
                unreachable.append(person.id)
                continue
            await outbox.enqueue(
                conn,
                incident_id=incident.id,
                purpose=Purpose.PAGE,
                person_id=person.id,
                channels=channels,
                dedup_key=f"page:{incident.id}:{escalation.step}:{person.id}",
                now=now,
                level=level.name,
            )
            paged.append({"person": person.id, "channels": channels})
        names = ", ".join(str(p["person"]) for p in paged)
        message = f"{label}: paging {names or 'nobody'}"
        if unreachable:
            message += f"; no usable channel for {', '.join(unreachable)}"
        if not people:
            message += " (no one is on call for this level's targets)"
        data = {"level": level.name, "repeat": repeat, "step": escalation.step, "paged": paged}
        await self._note(conn, incident.id, message, now, data, kind="escalation_level")

    async def follow(self, conn: AsyncConnection, incident_id: int, via: str | None = None) -> None:
        """The incident was acknowledged or resolved: stop (or end) its escalation."""
        escalation = await store.get(conn, incident_id, lock=True)
        if escalation is None or escalation.status == Status.RESOLVED:
            return
        incident = await store.incident(conn, incident_id, lock=True)
        if incident is None or incident.state == IncidentState.TRIGGERED:
            return
        now = self._clock.now()
        await queue.cancel(conn, step_key(incident_id, escalation.step), now)
        values: dict[str, Any] = {"next_step_at": None, "updated_at": now}
        if incident.state == IncidentState.RESOLVED:
            values.update(status=Status.RESOLVED.value, ended_at=now)
            message = f"escalation ended: resolved by {incident.resolved_by}"
            await self._note(conn, incident_id, message, now, {"via": via})
            await self._tell_paged(conn, incident, Purpose.RESOLVED, now)
        elif escalation.status == Status.ACTIVE:
            who = incident.acknowledged_by
            values.update(
                status=Status.ACKNOWLEDGED.value,
                acknowledged_by=who,
                acknowledged_via=via or "api",
                ended_at=now,
            )
            message = f"escalation stopped: acknowledged by {who} via {via or 'api'}"
            await self._note(conn, incident_id, message, now, {"by": who, "via": via or "api"})
            if via not in _REFRESHED_BY_CALLER and "slack" in self._channels.channels:
                # Acknowledged outside Slack (API, dashboard, email link, the alert source): the
                # Slack messages show it too. Slack, SMS and voice schedule their own refresh.
                await slack.schedule_refresh(
                    conn,
                    incident_id,
                    f"Acknowledged by {who} via {via or 'api'}.",
                    now=now,
                    key=f"ack:{escalation.step}",
                )
        else:
            return
        await store.update(conn, incident_id, values)

    async def _tell_paged(
        self, conn: AsyncConnection, incident: IncidentView, purpose: Purpose, now: datetime
    ) -> None:
        directory = await self._directories.load(conn)
        for person_id, channel in (await outbox.paged(conn, incident.id)).items():
            person = directory.people.get(person_id)
            if person is None:
                continue
            planned = outbox.plan_channels(person, None, allow_phone=False, registry=self._channels)
            channels = [channel] if channel in planned else []
            channels += [c for c in planned if c != channel]
            if not channels:
                continue
            await outbox.enqueue(
                conn,
                incident_id=incident.id,
                purpose=purpose,
                person_id=person_id,
                channels=channels,
                dedup_key=f"{purpose.value}:{incident.id}:{person_id}",
                now=now,
            )

    @staticmethod
    async def _note(
        conn: AsyncConnection,
        incident_id: int,
        message: str,
        now: datetime,
        data: dict[str, Any] | None = None,
        *,
        kind: str = "escalation",
    ) -> None:
        await store.timeline(
            conn, incident_id, kind=kind, actor=ACTOR, message=message, now=now, data=data
        )
