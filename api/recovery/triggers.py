"""What starts an attempt on its own: an agent's sample whose threshold held for the duration,
and an incident an action's alert matchers match.

``recovery.scan`` (transactional) looks at incidents opened since the last scan, so alert
intake pays nothing per alert.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from bounceback.api.recovery import incident, store
from bounceback.api.recovery.attempts import Attempts
from bounceback.api.recovery.decide import (
    IncidentFacts,
    applies_to_host,
    breached,
    incident_target,
    matches_incident,
    track,
)
from bounceback.api.recovery.models import RecoveryAction
from bounceback.api.recovery.names import SCAN
from bounceback.api.store.tables import incidents, scheduled_work
from bounceback.api.work.queue import WorkItem, WorkState
from bounceback.api.work.scheduler import Outcome


async def on_sample(
    engine: Attempts,
    conn: AsyncConnection,
    host: str,
    metrics: dict[str, float],
    now: datetime,
    held: dict[str, datetime] | None = None,
) -> list[int]:
    """A report's newest sample: follow held thresholds; start the actions that fire.
    ``held``: the host's breaches, when the caller read them already (``store.breaches_of``)."""
    actions = [
        a
        for a in (await engine.catalog.current(conn, now)).values()
        if a.enabled and a.conditions.metric_thresholds and applies_to_host(a, host)
    ]
    if not actions:
        return []
    if held is None:
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
        result = await engine.begin(
            conn, action, target=host, host=host, trigger="metric", actor=f"agent:{host}"
        )
        if result.attempt_id is not None:
            started.append(result.attempt_id)
    return started


async def ensure_scan(engine: Attempts, conn: AsyncConnection) -> None:
    """Start the scan chain unless a scan is pending: at the first start, and again after a
    chain ran out of attempts. Each scan schedules the next under the next number, so a new chain
    is numbered after the newest scan on record (finished ones may have been pruned), and starts
    from the newest incident, as the first one did."""
    work = scheduled_work
    pending = await conn.scalar(
        sa.select(work.c.id)
        .where(work.c.kind == SCAN, work.c.state == WorkState.PENDING.value)
        .limit(1)
    )
    if pending is not None:
        return
    newest = await conn.scalar(
        sa.select(work.c.payload).where(work.c.kind == SCAN).order_by(work.c.id.desc()).limit(1)
    )
    n = int(newest.get("n", -1)) + 1 if isinstance(newest, dict) else 0
    await engine.scheduler.schedule(
        SCAN, f"{SCAN}:{n}", engine.clock.now(), {"n": n}, max_attempts=50, conn=conn
    )


async def scan(engine: Attempts, item: WorkItem, conn: AsyncConnection) -> Outcome:
    """Incidents opened since the last scan that an action's alert matchers match."""
    n = int(item.payload.get("n", 0))
    after = item.payload.get("after")
    now = engine.clock.now()
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
    actions = [a for a in (await engine.catalog.current(conn, now)).values() if a.conditions.alerts]
    for row in rows:
        after = row.id
        if row.state != "triggered":
            continue
        facts = IncidentFacts(row.severity, row.source, row.summary, row.service, row.labels)
        for action in actions:
            if matches_incident(action, facts):
                await engine.begin(
                    conn,
                    action,
                    target=incident_target(facts, row.id),
                    host=row.labels.get("host"),
                    trigger="incident",
                    actor=f"incident:{row.id}",
                    incident_id=row.id,
                )
    due = now + timedelta(seconds=engine.settings.recovery.poll_seconds)
    await engine.scheduler.schedule(
        SCAN, f"{SCAN}:{n + 1}", due, {"n": n + 1, "after": after}, max_attempts=50, conn=conn
    )
    return None
