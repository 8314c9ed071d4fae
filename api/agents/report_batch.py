"""Agent reports applied together: one transaction for a batch of reports from different agents.

For every report the batch does what a report alone would: register the agent on its first
report, store the events it does not hold yet (``(agent_id, seq)`` is unique) and apply only
those (so a replay changes nothing), update the agent's view of itself, resolve its silence, keep
its self-healing in line with the hub's, hand over its pending commands and write one audit
record. What is common to the agents is one statement for all of them (locking the agents, the
events, the recovery breaches, the agents' new values, the commands, the audit records); what is
rare (breaker transitions, healing attempts, command results, incidents) goes report by report.
A batch holds at most one report per agent, so an agent's reports still apply one at a time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from bounceback.api.agent_wire import (
    AgentEvent,
    AgentReport,
    BreakerEvent,
    CheckEvent,
    CommandKind,
    CommandResultEvent,
    HealingEvent,
    LossEvent,
    ReportAck,
    SampleEvent,
)
from bounceback.api.agents import alerts, breakers, commands, desired, healing, silence, store
from bounceback.api.agents.commands import CommandState
from bounceback.api.agents.store import AgentRow
from bounceback.api.agents.validate import MAX_SEQ, clean, jsonable, utc
from bounceback.api.audit import audit_row
from bounceback.api.recovery.engine import RecoveryEngine
from bounceback.api.settings import HubSettings
from bounceback.api.store.db import mark_changed
from bounceback.api.store.tables import audit_log
from bounceback.api.work.scheduler import Scheduler


@dataclass(frozen=True)
class Incoming:
    agent_id: str
    report: AgentReport
    actor: str
    request_id: str


@dataclass
class _Applied:
    """What the new events change on the agent's row, and what they caused."""

    values: dict[str, Any] = field(default_factory=dict)
    incidents: list[int] = field(default_factory=list)
    results: int = 0


@dataclass(frozen=True)
class Applied:
    acks: list[ReportAck]  # in the batch's order
    wake: bool  # scheduled work was added: wake the scheduler once committed


@dataclass(frozen=True)
class Context:
    settings: HubSettings
    scheduler: Scheduler
    recovery: RecoveryEngine | None


async def apply(
    conn: AsyncConnection, batch: list[Incoming], now: datetime, context: Context
) -> Applied:
    ids = [incoming.agent_id for incoming in batch]
    assert len(set(ids)) == len(ids), "one report per agent in a batch"
    known = await store.lock_many(conn, ids)
    registered = {incoming.agent_id for incoming in batch if incoming.agent_id not in known}
    for incoming in batch:
        if incoming.agent_id in registered:
            await store.register(conn, incoming.agent_id, incoming.report, now)
    if registered:
        known |= await store.lock_many(conn, sorted(registered))
    fresh = await store.insert_events_many(
        conn, {incoming.agent_id: incoming.report.events for incoming in batch}, now
    )
    applied = {
        agent_id: await _apply(conn, known[agent_id], fresh[agent_id], now) for agent_id in ids
    }
    recoveries = await _recover(conn, applied, now, context.recovery)
    switch = await desired.get_switch(
        conn, desired.SELF_HEALING, context.settings.self_healing_enabled
    )
    values: dict[str, dict[str, Any]] = {}
    wake = bool(recoveries)
    toggles: dict[str, int | None] = {}
    for incoming in batch:
        agent, report = known[incoming.agent_id], incoming.report
        if report.breakers:
            stored = await breakers.stored_states(conn, agent.id)
            await breakers.replace(conn, agent.id, report.breakers, now, stored)
        changed = {
            **store.describe(report),
            **applied[agent.id].values,
            "last_seen": now,
            "last_seq": max([agent.last_seq, *(event.seq for event in fresh[agent.id])]),
            "reports": agent.reports + 1,
        }
        if agent.silent_since is not None:
            await alerts.apply(conn, alerts.reporting_again(agent, now), now)
            changed["silent_since"] = None
        due = silence.deadline(now, report.interval_seconds)
        if silence.needs_check(agent.silence_due, due, now):
            changed |= await silence.arm(
                conn, context.scheduler, agent.id, agent.silence_check, due
            )
            wake = True
        values[agent.id] = changed
        toggles[agent.id] = await _reconcile(conn, agent, report.self_healing_enabled, switch, now)
    await store.update_many(conn, values)
    handed = await commands.claim_many(conn, ids, now)
    acks = []
    audit_rows = []
    for incoming in batch:
        agent_id, events = incoming.agent_id, incoming.report.events
        accepted = fresh[agent_id]
        last_seq = values[agent_id]["last_seq"]
        row = audit_row(
            at=now,
            actor=incoming.actor,
            action="agent.report",
            target=f"agent:{agent_id}",
            details={
                "registered": agent_id in registered,
                "accepted": len(accepted),
                "duplicates": len(events) - len(accepted),
                "last_seq": last_seq,
                "incidents": applied[agent_id].incidents,
                "command_results": applied[agent_id].results,
                "reconciled": toggles[agent_id],
                "commands": [command.id for command in handed[agent_id]],
            },
        )
        row["request_id"] = incoming.request_id
        audit_rows.append(row)
        acks.append(
            ReportAck(
                accepted=len(accepted),
                duplicates=len(events) - len(accepted),
                last_seq=last_seq,
                commands=handed[agent_id],
            )
        )
    await conn.execute(audit_log.insert(), audit_rows)
    mark_changed(conn, "agent")
    return Applied(acks, wake)


async def _recover(
    conn: AsyncConnection,
    applied: dict[str, _Applied],
    now: datetime,
    recovery: RecoveryEngine | None,
) -> list[int]:
    """Each new sample to the recovery engine's held thresholds (their breaches read at once)."""
    samples = {
        agent_id: changes.values["last_metrics"]
        for agent_id, changes in applied.items()
        if "last_metrics" in changes.values
    }
    if recovery is None or not samples:
        return []
    held = await recovery.breaches_of(conn, list(samples))
    started: list[int] = []
    for agent_id, metrics in samples.items():
        started += await recovery.on_sample(conn, agent_id, metrics, now, held[agent_id])
    return started


async def _apply(
    conn: AsyncConnection, agent: AgentRow, events: list[AgentEvent], now: datetime
) -> _Applied:
    applied = _Applied()
    metrics_at, checks_at = agent.last_metrics_at, agent.last_checks_at
    known: dict[str, breakers.Stored] | None = None
    lost = 0
    for event in events:
        at = utc(event.at)
        if isinstance(event, SampleEvent):
            # Replays of older events must not overwrite a newer view.
            if metrics_at is None or at >= metrics_at:
                metrics_at = at
                applied.values |= {"last_metrics": jsonable(event.metrics), "last_metrics_at": at}
        elif isinstance(event, CheckEvent):
            if checks_at is None or at >= checks_at:
                checks_at = at
                readings = [reading.model_dump(mode="json") for reading in event.readings]
                applied.values |= {"last_checks": jsonable(readings), "last_checks_at": at}
        elif isinstance(event, BreakerEvent):
            if known is None:
                known = await breakers.stored_states(conn, agent.id)
            await breakers.record(conn, agent.id, event.status, now, known, transition_at=at)
        elif isinstance(event, HealingEvent):
            await _healing(conn, agent, event, now, applied)
        elif isinstance(event, CommandResultEvent):
            applied.results += await commands.record_result(conn, agent.id, event, now)
        elif isinstance(event, LossEvent):
            lost += event.dropped
    if lost:
        applied.values["events_lost"] = min(agent.events_lost + lost, MAX_SEQ)
    return applied


async def _healing(
    conn: AsyncConnection, agent: AgentRow, event: HealingEvent, now: datetime, applied: _Applied
) -> None:
    attempt = event.attempt
    changed = await healing.record(conn, agent.id, attempt, now)
    if changed and alerts.needs_incident(attempt):
        hostname = clean(agent.hostname)
        incident_id = await alerts.apply(conn, alerts.healing(agent.id, hostname, attempt), now)
        if incident_id is not None:
            await healing.link_incident(conn, agent.id, attempt.attempt_id, incident_id)
            applied.incidents.append(incident_id)


async def _reconcile(
    conn: AsyncConnection,
    agent: AgentRow,
    reported: bool,
    switch: desired.Switch,
    now: datetime,
) -> int | None:
    """Send an enable/disable command when the agent disagrees with the hub's wish."""
    target = desired.agent_target(agent.desired_self_healing, desired.fleet_target(switch))
    if target is None or target == reported:
        return None
    row = await commands.last_toggle(conn, agent.id)
    last = (
        desired.LastToggle(
            enable=row.kind == CommandKind.ENABLE_SELF_HEALING.value,
            state=CommandState(row.state),
            issued_at=row.issued_at,
        )
        if row is not None
        else None
    )
    kind = desired.reconcile(target, reported, last, now)
    if kind is None:
        return None
    issued = await commands.issue(
        conn, agent_id=agent.id, kind=kind, issued_by="hub:reconcile", now=now
    )
    return int(issued["id"])
