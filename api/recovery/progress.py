"""Moving an attempt on: the leased work behind ``recovery.advance`` and ``recovery.hubstep``.

``recovery.advance`` (transactional) looks at one attempt: the pure ``decide.advance`` says what
next, and its effects — agent commands, the next look, the next try, the hand-off to a human,
the timeline note — commit with the work row, once, on whichever replica holds the lease.
``recovery.hubstep`` (plain) performs one hub-side step outside any transaction, keyed by
(attempt, phase, step) so a retry after a crash performs it again at most under the same key.
``recovery.wake`` (plain) wakes the long-polls of the agents a look gave commands to; it is work
added in the look's transaction, so it runs only once the commands are committed and visible.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from bounceback.api.agent_wire import CommandKind
from bounceback.api.agents import commands
from bounceback.api.recovery import incident, store
from bounceback.api.recovery.attempts import Attempts
from bounceback.api.recovery.decide import OPEN_STATES, AttemptFacts, Phase, State, advance
from bounceback.api.recovery.hubsteps import StepFailed
from bounceback.api.recovery.models import HUB_STEPS, RecoveryAction, Step, StepType
from bounceback.api.recovery.names import ADVANCE, HUBSTEP, WAKE, advance_key, resolve_target
from bounceback.api.store.tables import agent_commands
from bounceback.api.work.queue import WorkItem
from bounceback.api.work.scheduler import Outcome


async def look(engine: Attempts, item: WorkItem, conn: AsyncConnection) -> Outcome:
    now = engine.clock.now()
    await store.admission_gate(conn, now)
    row = await store.get_attempt(conn, int(item.payload["id"]), lock=True)
    if row is None or row.state not in [s.value for s in OPEN_STATES]:
        return None
    action = RecoveryAction.model_validate(row.action)
    metrics, metrics_at = await engine.metrics_of(conn, row.host)
    outcomes = await _outcomes(conn, [s for s in row.steps if s["phase"] == "immediate"])
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
        max_concurrent=engine.settings.max_concurrent_recoveries,
        escalate=action.actions.escalate,
    )
    decision = advance(facts, now)
    values: dict[str, Any] = {"state": decision.state.value, "note": decision.note}
    steps = list(row.steps)
    if decision.run is not None:
        phase_steps = (
            action.actions.immediate if decision.run == Phase.IMMEDIATE else action.actions.rollback
        )
        issued = await _issue(engine, conn, row, decision.run, phase_steps)
        steps += issued
        if any(entry.get("command_id") is not None for entry in issued) and row.host:
            await engine.scheduler.schedule(
                WAKE,
                f"{WAKE}:{row.id}:{decision.run.value}",
                now,
                {"hosts": [row.host]},
                conn=conn,
            )
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
        look_at = decision.look_at
        if advance_key(row.id, look_at) == item.key:
            # A next look due "now" (verify.delaySeconds = 0) would carry this look's own key
            # and be dropped as a duplicate, leaving the attempt open for good.
            look_at += timedelta(milliseconds=1)
        await engine.scheduler.schedule(
            ADVANCE, advance_key(row.id, look_at), look_at, {"id": row.id}, conn=conn
        )
    if decision.retry:
        await engine.insert(
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


async def _outcomes(conn: AsyncConnection, steps: list[dict[str, Any]]) -> list[str]:
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
    engine: Attempts,
    conn: AsyncConnection,
    row: store.AttemptRow,
    phase: Phase,
    steps: list[Step],
) -> list[dict[str, Any]]:
    now = engine.clock.now()
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
            await engine.scheduler.schedule(
                HUBSTEP,
                f"{HUBSTEP}:{row.id}:{phase.value}:{index}",
                now,
                {"id": row.id, "phase": phase.value, "index": index},
                max_attempts=3,
                conn=conn,
            )
        issued.append(entry)
    return issued


async def hub_step(engine: Attempts, item: WorkItem) -> Outcome:
    attempt_id, phase, index = (
        int(item.payload["id"]),
        item.payload["phase"],
        int(item.payload["index"]),
    )
    async with engine.db.read() as conn:
        row = await store.get_attempt(conn, attempt_id, lock=False)
    if row is None:
        return None
    action = RecoveryAction.model_validate(row.action)
    step = (action.actions.immediate if phase == "immediate" else action.actions.rollback)[index]
    target = resolve_target(step, row.target, row.host)
    context = {"attempt_id": row.id, "action_id": row.action_id, "target": row.target}
    try:
        message, outcome = await engine.hub_steps.run(step, target, context, item.key), "done"
    except StepFailed as exc:
        message, outcome = str(exc), "failed"
    now = engine.clock.now()
    async with engine.db.transaction() as conn:
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
            await engine.scheduler.schedule(
                ADVANCE, advance_key(attempt_id, now), now, {"id": attempt_id}, conn=conn
            )
    return None


async def wake_agents(engine: Attempts, item: WorkItem) -> Outcome:
    engine.signal.notify([str(host) for host in item.payload["hosts"]])
    return None
