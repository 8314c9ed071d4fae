"""Starting attempts: the switch, the safety check, the attempt row and its first look.

``triggers`` (agent samples, the incident scan), ``progress`` (the leased work that moves an
attempt on) and the endpoints all start attempts through here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from bounceback.api.agents import desired
from bounceback.api.agents import store as agents
from bounceback.api.agents.commands import CommandSignal
from bounceback.api.clock import Clock
from bounceback.api.recovery import incident, store
from bounceback.api.recovery.catalog import Catalog
from bounceback.api.recovery.decide import Safety, State, Verdict, check
from bounceback.api.recovery.hubsteps import HubSteps
from bounceback.api.recovery.models import RecoveryAction
from bounceback.api.recovery.names import ADVANCE, advance_key
from bounceback.api.settings import HubSettings
from bounceback.api.store.db import Database
from bounceback.api.work.scheduler import Scheduler

SWITCH = "auto_recovery"


@dataclass(frozen=True)
class Started:
    verdict: Verdict
    attempt_id: int | None
    incident_id: int | None = None


class Attempts:
    def __init__(
        self,
        settings: HubSettings,
        db: Database,
        clock: Clock,
        scheduler: Scheduler,
        hub_steps: HubSteps | None = None,
        signal: CommandSignal | None = None,
    ) -> None:
        self.settings = settings
        self.db = db
        self.clock = clock
        self.scheduler = scheduler
        self.hub_steps = hub_steps or HubSteps()
        # The hub's long-poll signal: without it, agents find recovery commands at their next
        # look at the store rather than at once.
        self.signal = signal or CommandSignal()
        self.catalog = Catalog(settings.recovery)

    # -- the switch -----------------------------------------------------------------------------

    async def enabled(self, conn: AsyncConnection) -> bool:
        switch = await desired.get_switch(conn, SWITCH, self.settings.auto_recovery_enabled)
        return switch.enabled

    async def set_enabled(self, conn: AsyncConnection, enabled: bool, actor: str) -> None:
        await desired.set_switch(conn, SWITCH, enabled, actor, self.clock.now())

    async def safety(
        self, conn: AsyncConnection, action: RecoveryAction, target: str, *, manual: bool
    ) -> Verdict:
        facts = Safety(
            enabled=await self.enabled(conn),
            manual=manual,
            action=action,
            open_for_pair=await store.open_for_pair(conn, action.id, target),
            last_episode_of_pair=await store.last_episode(conn, target, action.id),
            last_episode_on_target=await store.last_episode(conn, target),
            active=await store.count_active(conn),
            max_concurrent=self.settings.max_concurrent_recoveries,
            global_cooldown=timedelta(minutes=self.settings.global_cooldown_minutes),
        )
        return check(facts, self.clock.now())

    async def begin(
        self,
        conn: AsyncConnection,
        action: RecoveryAction,
        *,
        target: str,
        host: str | None,
        trigger: str,
        actor: str,
        incident_id: int | None = None,
        manual: bool = False,
    ) -> Started:
        """Start an episode when safety allows (in the caller's transaction)."""
        now = self.clock.now()
        verdict = await self.safety(conn, action, target, manual=manual)
        if not verdict.allowed:
            return Started(verdict, None, incident_id)
        before = await self.metrics_of(conn, host)
        if incident_id is None:
            why = f"{trigger} trigger ({actor})"
            incident_id = await incident.open_for(conn, action, target, why, now)
        attempt_id = await self.insert(
            conn,
            action,
            target=target,
            host=host,
            incident_id=incident_id,
            trigger=trigger,
            actor=actor,
            before=before[0],
            episode=None,
            try_number=1,
        )
        return Started(verdict, attempt_id, incident_id)

    async def insert(
        self,
        conn: AsyncConnection,
        action: RecoveryAction,
        *,
        target: str,
        host: str | None,
        incident_id: int | None,
        trigger: str,
        actor: str,
        before: dict[str, Any],
        episode: tuple[int, datetime] | None,
        try_number: int,
        due: datetime | None = None,
    ) -> int | None:
        now = self.clock.now()
        attempt_id = await store.insert_attempt(
            conn,
            {
                "action_id": action.id,
                "target": target,
                "host": host,
                "incident_id": incident_id,
                "episode_id": episode[0] if episode else None,
                "episode_started_at": episode[1] if episode else now,
                "try_number": try_number,
                "state": State.PENDING.value,
                "trigger": trigger,
                "triggered_by": actor,
                "action": action.shown(),
                "steps": [],
                "before": before,
                "note": "waiting to start",
                "created_at": now,
                "phase_started_at": now,
            },
        )
        if attempt_id is None:
            return None
        message = f"recovery {action.name} on {target}: try {try_number} of {action.max_retries}"
        data = {"attempt_id": attempt_id, "state": "pending", "before": before}
        await incident.note(conn, incident_id, message + f" ({trigger})", now, data)
        at = due or now
        await self.scheduler.schedule(
            ADVANCE, advance_key(attempt_id, at), at, {"id": attempt_id}, conn=conn
        )
        return attempt_id

    async def metrics_of(
        self, conn: AsyncConnection, host: str | None
    ) -> tuple[dict[str, Any], datetime | None]:
        agent = await agents.get(conn, host) if host else None
        if agent is None:
            return {}, None
        return dict(agent.last_metrics or {}), agent.last_metrics_at
