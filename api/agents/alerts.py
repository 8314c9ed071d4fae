"""Incidents the agents cause: a silent agent, and a healing action that gave up or escalates.

They go through the incident rules of alert intake (``incidents/decide.py``) and its store, in
the caller's transaction: the report (or the silence check) and the incident commit together.
Fingerprints name the agent (and the action and target), so repeats add to the open incident.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from bounceback.api.agent_wire import HealingAttempt, HealingOutcome
from bounceback.api.agents.store import AgentRow
from bounceback.api.agents.validate import clean, jsonable
from bounceback.api.escalation import handoff
from bounceback.api.incidents import store
from bounceback.api.intake.event import AlertEvent, EventAction
from bounceback.api.schema import IntakeAction, Severity

SOURCE = "bounceback-agent"
_MAX_DEDUP_KEY = 255


def _actor(agent_id: str) -> str:
    return f"agent:{agent_id}"


def silent_key(agent_id: str) -> str:
    return f"{agent_id}:silent"


def healing_key(agent_id: str, action: str, target: str | None) -> str:
    key = f"{agent_id}:healing:{action}:{target or '-'}"
    if len(key) <= _MAX_DEDUP_KEY:
        return key
    digest = hashlib.sha256(f"{action}\x00{target or ''}".encode()).hexdigest()[:40]
    return f"{agent_id}:healing:{digest}"


def _event(
    key: str,
    action: EventAction,
    severity: Severity,
    summary: str,
    agent_id: str,
    labels: dict[str, str],
    data: dict[str, object] | None = None,
    service: str | None = None,
) -> AlertEvent:
    return AlertEvent(
        fingerprint=f"agent:{key}",
        dedup_key=key,
        action=action,
        severity=severity,
        summary=clean(summary)[:1024],
        source=SOURCE,
        actor=_actor(agent_id),
        service=service,
        labels=clean(labels),
        data=jsonable(data or {}),
    )


def silent(agent: AgentRow, now: datetime, window_seconds: float) -> AlertEvent:
    summary = (
        f"agent {agent.id} ({agent.hostname}) is silent: no report since "
        f"{agent.last_seen.isoformat()} (nothing for {window_seconds:g} s)"
    )
    labels = {"host": agent.id, "hostname": agent.hostname, "alert": "agent_silent"}
    data = {"last_seen": agent.last_seen, "interval_seconds": agent.interval_seconds}
    return _event(
        silent_key(agent.id), EventAction.TRIGGER, Severity.HIGH, summary, agent.id, labels, data
    )


def reporting_again(agent: AgentRow, now: datetime) -> AlertEvent:
    summary = f"agent {agent.id} ({agent.hostname}) reports again"
    labels = {"host": agent.id, "hostname": agent.hostname, "alert": "agent_silent"}
    return _event(
        silent_key(agent.id), EventAction.RESOLVE, Severity.HIGH, summary, agent.id, labels
    )


def needs_incident(attempt: HealingAttempt) -> bool:
    return attempt.outcome == HealingOutcome.GAVE_UP or attempt.escalate


def healing(agent_id: str, hostname: str, attempt: HealingAttempt) -> AlertEvent:
    target = f" on {attempt.target}" if attempt.target else ""
    if attempt.outcome == HealingOutcome.GAVE_UP:
        what = f"self-healing gave up: {attempt.action}{target} keeps failing; the agent stopped"
        severity = Severity.HIGH
    else:
        what = f"self-healing asks for help: {attempt.action}{target} {attempt.outcome.value}"
        severity = Severity.MEDIUM
    reason = f" ({attempt.reason})" if attempt.reason else ""
    labels = {
        "host": agent_id,
        "hostname": hostname,
        "action": attempt.action,
        "alert": "healing_escalated",
    }
    if attempt.target:
        labels["target"] = attempt.target
    return _event(
        healing_key(agent_id, attempt.action, attempt.target),
        EventAction.TRIGGER,
        severity,
        f"{hostname}: {what}{reason}",
        agent_id,
        labels,
        {"attempt": attempt.model_dump(exclude={"before", "after"})},
        service=clean(attempt.target)[:255] if attempt.target else None,
    )


async def apply(conn: AsyncConnection, event: AlertEvent, now: datetime) -> int | None:
    """Apply one alert to the incidents in the caller's transaction; the incident's id, if any."""
    applied = await store.open_or_find(conn, event, now)
    incident_id, current, change = applied.incident_id, applied.current, applied.change
    if incident_id is None or change.action == IntakeAction.IGNORED:
        return incident_id
    if change.open_new:
        await handoff.needs_human(conn, incident_id, event.summary, now=now)
    else:
        values = store.update_values(change, now, summary=event.summary)
        await store.update(conn, incident_id, values)
        if current is not None and change.state not in (None, current.state):
            await handoff.changed(conn, incident_id, now=now)
    await store.insert_events(conn, store.event_rows(incident_id, change, now))
    return incident_id
