"""The recovery engine's executor: triggers, and the leased scheduled work that moves attempts.

``recovery.advance`` (transactional) looks at one attempt: the pure ``decide.advance`` says what
next, and its effects — agent commands, the next look, the next try, the hand-off to a human,
the timeline note — commit with the work row, once, on whichever replica holds the lease.
``recovery.hubstep`` (plain) performs one hub-side step outside any transaction, keyed by
(attempt, phase, step) so a retry after a crash performs it again at most under the same key.
``recovery.scan`` (transactional) looks at incidents opened since the last scan, so alert
intake pays nothing per alert.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from bounceback.api.agent_wire import CommandKind
from bounceback.api.agents import commands, desired
from bounceback.api.agents import store as agents
from bounceback.api.clock import Clock
from bounceback.api.recovery import incident, store
from bounceback.api.recovery.catalog import Catalog
from bounceback.api.recovery.decide import (
    OPEN_STATES,
    AttemptFacts,
    IncidentFacts,
    Phase,
    Safety,
    State,
    Verdict,
    advance,
    applies_to_host,
    breached,
    check,
    incident_target,
    matches_incident,
    track,
)
from bounceback.api.recovery.hubsteps import HubSteps, StepFailed
from bounceback.api.recovery.models import HUB_STEPS, RecoveryAction, Step, StepType
from bounceback.api.settings import HubSettings
from bounceback.api.store.db import Database
from bounceback.api.store.tables import agent_commands, incidents
from bounceback.api.work.queue import WorkItem
from bounceback.api.work.scheduler import Outcome, Scheduler

ADVANCE = "recovery.advance"
HUBSTEP = "recovery.hubstep"
SCAN = "recovery.scan"
SWITCH = "auto_recovery"


def advance_key(attempt_id: int, at: datetime) -> str:
    return f"{ADVANCE}:{attempt_id}:{at.isoformat()}"


@dataclass(frozen=True)
class Started:
    verdict: Verdict
    attempt_id: int | None
    incident_id: int | None = None


def resolve_target(step: Step, target: str, host: str | None) -> str:
    return step.target.replace("{target}", target).replace("{host}", host or target)


class RecoveryEngine:
    def __init__(
        self,
        settings: HubSettings,
        db: Database,
        clock: Clock,
        scheduler: Scheduler,
        hub_steps: HubSteps | None = None,
    ) -> None:
        self.settings = settings
        self.db = db
        self.clock = clock
        self.scheduler = scheduler
        self.hub_steps = hub_steps or HubSteps()
        self.catalog = Catalog(settings.recovery)

    def register(self) -> None:
        self.scheduler.register_transactional(ADVANCE, self.look)
        self.scheduler.register(HUBSTEP, self.hub_step)
        self.scheduler.register_transactional(SCAN, self.scan)

    async def start(self) -> None:
        await self.scheduler.schedule(
            SCAN, f"{SCAN}:0", self.clock.now(), {"n": 0}, max_attempts=50
        )

    # -- the switch -----------------------------------------------------------------------------

    async def enabled(self, conn: AsyncConnection) -> bool:
        switch = await desired.get_switch(conn, SWITCH, self.settings.auto_recovery_enabled)
        return switch.enabled

    async def set_enabled(self, conn: AsyncConnection, enabled: bool, actor: str) -> None:
        await desired.set_switch(conn, SWITCH, enabled, actor, self.clock.now())

    # -- triggers -------------------------------------------------------------------------------

    async def on_sample(
        self, conn: AsyncConnection, host: str, metrics: dict[str, float], now: datetime
    ) -> list[int]:
        """A report's newest sample: follow held thresholds; start the actions that fire."""
        actions = [
            a
            for a in (await self.catalog.current(conn, now)).values()
            if a.enabled and a.conditions.metric_thresholds and applies_to_host(a, host)
        ]
        if not actions:
            return []
        held = await store.breaches(conn, host)
        changed: dict[str, datetime] = {}
        cleared: list[str] = []
        fired: list[RecoveryAction] = []
        for action in actions:
            is_breached = breached(action.conditions.metric_thresholds, metrics)
            hold = track(
                held.get(action.id),
                is_breached,
                now,
                timedelta(minutes=action.conditions.duration),
            )
            if hold.since is None and action.id in held:
                cleared.append(action.id)
            elif hold.since is not None and hold.since != held.get(action.id):
                changed[action.id] = hold.since
            if hold.fire:
                fired.append(action)
        await store.set_breaches(conn, host, changed, cleared)
        started = []
        for action in fired:
            result = await self.begin(
                conn, action, target=host, host=host, trigger="metric", actor=f"agent:{host}"
            )
            if result.attempt_id is not None:
                started.append(result.attempt_id)
        return started

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
        before = await self._metrics(conn, host)
        if incident_id is None:
            why = f"{trigger} trigger ({actor})"
            incident_id = await incident.open_for(conn, action, target, why, now)
        attempt_id = await self._insert(
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

    async def _insert(
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

    async def _metrics(
        self, conn: AsyncConnection, host: str | None
    ) -> tuple[dict[str, Any], datetime | None]:
        agent = await agents.get(conn, host) if host else None
        if agent is None:
            return {}, None
        return dict(agent.last_metrics or {}), agent.last_metrics_at

    # -- scheduled work -------------------------------------------------------------------------

    async def look(self, item: WorkItem, conn: AsyncConnection) -> Outcome:
        now = self.clock.now()
        await store.admission_gate(conn, now)
        row = await store.get_attempt(conn, int(item.payload["id"]), lock=True)
        if row is None or row.state not in [s.value for s in OPEN_STATES]:
            return None
        action = RecoveryAction.model_validate(row.action)
        metrics, metrics_at = await self._metrics(conn, row.host)
        outcomes = await self._outcomes(conn, [s for s in row.steps if s["phase"] == "immediate"])
        verify = action.actions.verify
        thresholds = (verify.metric_thresholds if verify else None) or (
            action.conditions.metric_thresholds
        )
        facts = AttemptFacts(
            state=State(row.state),
            phase_started_at=row.phase_started_at,
            try_number=row.try_number,
            max_retries=action.max_retries,
            step_outcomes=outcomes,
            step_deadline=row.step_deadline,
            verify=verify,
            thresholds=thresholds,
            metrics=metrics,
            metrics_at=metrics_at,
            active=await store.count_active(conn),
            max_concurrent=self.settings.max_concurrent_recoveries,
            escalate=action.actions.escalate,
        )
        decision = advance(facts, now)
        values: dict[str, Any] = {"state": decision.state.value, "note": decision.note}
        steps = list(row.steps)
        if decision.run is not None:
            phase_steps = (
                action.actions.immediate
                if decision.run == Phase.IMMEDIATE
                else action.actions.rollback
            )
            steps += await self._issue(conn, row, decision.run, phase_steps)
            values["steps"] = steps
            if decision.run == Phase.IMMEDIATE:
                longest = max(s.timeout_seconds for s in action.actions.immediate)
                values["step_deadline"] = now + timedelta(seconds=longest)
        if decision.state.value != row.state:
            values["phase_started_at"] = now
            data: dict[str, Any] = {
                "attempt_id": row.id,
                "state": decision.state.value,
                "try": row.try_number,
                "through": [s.value for s in decision.passed_through],
            }
            if decision.look_at is None:
                values.update(finished_at=now, after=metrics)
                data.update(before=row.before, after=metrics)
            message = f"recovery {action.name} on {row.target}: {decision.state.value}"
            await incident.note(conn, row.incident_id, f"{message}: {decision.note}", now, data)
        await store.update_attempt(conn, row.id, values)
        if decision.look_at is not None:
            await self.scheduler.schedule(
                ADVANCE,
                advance_key(row.id, decision.look_at),
                decision.look_at,
                {"id": row.id},
                conn=conn,
            )
        if decision.retry:
            await self._insert(
                conn,
                action,
                target=row.target,
                host=row.host,
                incident_id=row.incident_id,
                trigger=row.trigger,
                actor=row.triggered_by,
                before=metrics,
                episode=(row.episode_id, row.episode_started_at),
                try_number=row.try_number + 1,
            )
        if row.incident_id is not None:
            if decision.needs_human:
                reason = f"auto-recovery {action.name} on {row.target} gave up: {decision.note}"
                await incident.needs_human(conn, row.incident_id, reason, now)
                await incident.note(
                    conn, row.incident_id, f"needs a human: {reason}", now, {"attempt_id": row.id}
                )
            elif decision.state == State.SUCCEEDED:
                await incident.recovered(conn, row.incident_id, now)
        return None

    async def _outcomes(self, conn: AsyncConnection, steps: list[dict[str, Any]]) -> list[str]:
        ids = [int(s["command_id"]) for s in steps if s.get("command_id") is not None]
        states: dict[int, str] = {}
        if ids:
            rows = await conn.execute(
                sa.select(agent_commands.c.id, agent_commands.c.state).where(
                    agent_commands.c.id.in_(ids)
                )
            )
            states = {row.id: row.state for row in rows}
        return [
            states.get(int(s["command_id"]), "pending")
            if s.get("command_id") is not None
            else str(s.get("outcome") or "pending")
            for s in steps
        ]

    async def _issue(
        self, conn: AsyncConnection, row: store.AttemptRow, phase: Phase, steps: list[Step]
    ) -> list[dict[str, Any]]:
        now = self.clock.now()
        issued: list[dict[str, Any]] = []
        for index, step in enumerate(steps):
            target = resolve_target(step, row.target, row.host)
            entry: dict[str, Any] = {
                "phase": phase.value,
                "type": step.type.value,
                "target": target,
            }
            if step.type == StepType.AGENT_ACTION:
                if row.host is None:
                    entry.update(outcome="failed", message="no host to run an agent action on")
                else:
                    command = await commands.issue(
                        conn,
                        agent_id=row.host,
                        kind=CommandKind.RUN_ACTION,
                        issued_by=f"recovery:{row.id}",
                        now=now,
                        target=target,
                        params=step.parameters,
                    )
                    entry["command_id"] = command["id"]
            elif step.type in HUB_STEPS:
                entry["outcome"] = "pending"
                await self.scheduler.schedule(
                    HUBSTEP,
                    f"{HUBSTEP}:{row.id}:{phase.value}:{index}",
                    now,
                    {"id": row.id, "phase": phase.value, "index": index},
                    max_attempts=3,
                    conn=conn,
                )
            issued.append(entry)
        return issued

    async def hub_step(self, item: WorkItem) -> Outcome:
        attempt_id, phase, index = (
            int(item.payload["id"]),
            item.payload["phase"],
            int(item.payload["index"]),
        )
        async with self.db.read() as conn:
            row = await store.get_attempt(conn, attempt_id, lock=False)
        if row is None:
            return None
        action = RecoveryAction.model_validate(row.action)
        step = (action.actions.immediate if phase == "immediate" else action.actions.rollback)[
            index
        ]
        target = resolve_target(step, row.target, row.host)
        context = {"attempt_id": row.id, "action_id": row.action_id, "target": row.target}
        try:
            message, outcome = await self.hub_steps.run(step, target, context, item.key), "done"
        except StepFailed as exc:
            message, outcome = str(exc), "failed"
        now = self.clock.now()
        async with self.db.transaction() as conn:
            current = await store.get_attempt(conn, attempt_id, lock=True)
            if current is None:
                return None
            steps = [dict(s) for s in current.steps]
            same = [i for i, s in enumerate(steps) if s["phase"] == phase]
            if index < len(same):
                steps[same[index]].update(outcome=outcome, message=message)
            await store.update_attempt(conn, attempt_id, {"steps": steps})
            await incident.note(
                conn,
                current.incident_id,
                f"recovery step {step.type.value}: {message}",
                now,
                {"attempt_id": attempt_id, "outcome": outcome},
            )
            if current.state in [s.value for s in OPEN_STATES]:
                await self.scheduler.schedule(
                    ADVANCE, advance_key(attempt_id, now), now, {"id": attempt_id}, conn=conn
                )
        return None

    async def scan(self, item: WorkItem, conn: AsyncConnection) -> Outcome:
        """Incidents opened since the last scan that an action's alert matchers match."""
        n = int(item.payload.get("n", 0))
        after = item.payload.get("after")
        now = self.clock.now()
        if after is None:
            after = int(await conn.scalar(sa.select(sa.func.max(incidents.c.id))) or 0)
        rows = (
            await conn.execute(
                sa.select(incidents)
                .where(incidents.c.id > after, incidents.c.source != incident.SOURCE)
                .order_by(incidents.c.id)
                .limit(500)
            )
        ).all()
        actions = [
            a for a in (await self.catalog.current(conn, now)).values() if a.conditions.alerts
        ]
        for row in rows:
            after = row.id
            if row.state != "triggered":
                continue
            facts = IncidentFacts(row.severity, row.source, row.summary, row.service, row.labels)
            for action in actions:
                if matches_incident(action, facts):
                    await self.begin(
                        conn,
                        action,
                        target=incident_target(facts, row.id),
                        host=row.labels.get("host"),
                        trigger="incident",
                        actor=f"incident:{row.id}",
                        incident_id=row.id,
                    )
        due = now + timedelta(seconds=self.settings.recovery.poll_seconds)
        await self.scheduler.schedule(
            SCAN, f"{SCAN}:{n + 1}", due, {"n": n + 1, "after": after}, max_attempts=50, conn=conn
        )
        return None
