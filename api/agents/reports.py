"""``POST /api/agents/{id}/reports``: one transaction per report, answered after the commit.

The transaction registers the agent on its first report, stores the events it does not hold yet
(``(agent_id, seq)`` is unique), applies only those (so a replay changes nothing), updates the
agent's latest view of itself, resolves its silence, keeps its self-healing in line with the
hub's, hands over its pending commands and writes one audit record.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from bounceback.api import audit
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
from bounceback.api.agents.validate import clean, jsonable, utc
from bounceback.api.clock import Clock
from bounceback.api.recovery.engine import RecoveryEngine
from bounceback.api.settings import HubSettings
from bounceback.api.store.db import Database
from bounceback.api.work.scheduler import Scheduler


@dataclass
class _Applied:
    """What the new events change on the agent's row, and what they caused."""

    values: dict[str, Any] = field(default_factory=dict)
    incidents: list[int] = field(default_factory=list)
    results: int = 0


class AgentReports:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        settings: HubSettings,
        scheduler: Scheduler,
        recovery: RecoveryEngine | None = None,
    ) -> None:
        self._recovery = recovery
        self._db = db
        self._clock = clock
        self._settings = settings
        self._scheduler = scheduler

    async def ingest(self, agent_id: str, report: AgentReport, *, actor: str) -> ReportAck:
        now = self._clock.now()
        async with self._db.transaction() as conn:
            agent = await store.get(conn, agent_id, lock=True)
            registered = agent is None
            if agent is None:
                await store.register(conn, agent_id, report, now)
                agent = await store.get(conn, agent_id, lock=True)
                assert agent is not None
            fresh = await store.insert_events(conn, agent_id, report.events, now)
            applied = await self._apply(conn, agent, fresh, now)
            recoveries: list[int] = []
            if self._recovery is not None and "last_metrics" in applied.values:
                metrics = applied.values["last_metrics"]
                recoveries = await self._recovery.on_sample(conn, agent_id, metrics, now)
            if report.breakers:
                known = await breakers.stored_states(conn, agent_id)
                await breakers.replace(conn, agent_id, report.breakers, now, known)
            last_seq = max([agent.last_seq, *(event.seq for event in fresh)])
            values = {
                **store.describe(report),
                **applied.values,
                "last_seen": now,
                "last_seq": last_seq,
                "reports": agent.reports + 1,
            }
            if agent.silent_since is not None:
                await alerts.apply(conn, alerts.reporting_again(agent, now), now)
                values["silent_since"] = None
            due = silence.deadline(now, report.interval_seconds)
            if needs_check := silence.needs_check(agent.silence_due, due, now):
                values |= await silence.arm(
                    conn, self._scheduler, agent_id, agent.silence_check, due
                )
            await store.update(conn, agent_id, values)
            toggled = await self._reconcile(conn, agent, report.self_healing_enabled, now)
            handed = await commands.claim(conn, agent_id, now)
            await audit.record(
                conn,
                at=now,
                actor=actor,
                action="agent.report",
                target=f"agent:{agent_id}",
                details={
                    "registered": registered,
                    "accepted": len(fresh),
                    "duplicates": len(report.events) - len(fresh),
                    "last_seq": last_seq,
                    "incidents": applied.incidents,
                    "command_results": applied.results,
                    "reconciled": toggled,
                    "commands": [command.id for command in handed],
                },
            )
        if needs_check or recoveries:
            self._scheduler.wake()  # the check is visible only now that it is committed
        return ReportAck(
            accepted=len(fresh),
            duplicates=len(report.events) - len(fresh),
            last_seq=last_seq,
            commands=handed,
        )

    async def _apply(
        self, conn: AsyncConnection, agent: AgentRow, events: list[AgentEvent], now: datetime
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
                    applied.values |= {
                        "last_metrics": jsonable(event.metrics),
                        "last_metrics_at": at,
                    }
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
                await self._healing(conn, agent, event, now, applied)
            elif isinstance(event, CommandResultEvent):
                applied.results += await commands.record_result(conn, agent.id, event, now)
            elif isinstance(event, LossEvent):
                lost += event.dropped
        if lost:
            applied.values["events_lost"] = agent.events_lost + lost
        return applied

    async def _healing(
        self,
        conn: AsyncConnection,
        agent: AgentRow,
        event: HealingEvent,
        now: datetime,
        applied: _Applied,
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
        self, conn: AsyncConnection, agent: AgentRow, reported: bool, now: datetime
    ) -> int | None:
        """Send an enable/disable command when the agent disagrees with the hub's wish."""
        switch = await desired.get_switch(
            conn, desired.SELF_HEALING, self._settings.self_healing_enabled
        )
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
