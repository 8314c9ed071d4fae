"""The gate's effects: gather the facts (store, degradation source, health probes), decide
(``gate.py``), audit. And freeze overrides: an operator's audited exception to a freeze."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from bounceback.api import audit
from bounceback.api.deployment_wire import (
    FreezeOverride,
    FreezeOverrideRequest,
    GateRequest,
    GateResult,
)
from bounceback.api.deployments import freeze, gate, samples, store
from bounceback.api.deployments.engine import Engine
from bounceback.api.store.tables import freeze_overrides


def active_freezes(
    engine: Engine, target: str, environment: str, now: datetime
) -> list[freeze.ActiveFreeze]:
    found = []
    wanted = environment.casefold()
    for window in engine.config.freeze_windows(target):
        if window.environments is not None and wanted not in {
            name.casefold() for name in window.environments
        }:
            continue
        active = freeze.active(
            window.name,
            freeze.parse_cron(window.cron),
            window.duration_minutes,
            window.timezone,
            now,
        )
        if active is not None:
            found.append(active)
    return found


async def current_override(
    conn: AsyncConnection, target: str, environment: str, now: datetime
) -> gate.Override | None:
    row = (
        await conn.execute(
            sa.select(freeze_overrides)
            .where(
                freeze_overrides.c.target == target,
                freeze_overrides.c.environment == environment,
                freeze_overrides.c.created_at <= now,
                freeze_overrides.c.until > now,
            )
            .order_by(freeze_overrides.c.id.desc())
            .limit(1)
        )
    ).first()
    if row is None:
        return None
    return gate.Override(row.id, row.actor, row.reason, row.until)


async def check(engine: Engine, request: GateRequest, actor: str) -> GateResult:
    config = engine.config
    target = config.target(request.target)
    health_urls = list(request.health_urls or target.health_urls)
    health = await engine.prober.check(health_urls)
    now = engine.clock.now()
    async with engine.db.read() as conn:
        since = now - timedelta(minutes=config.recent_failure_minutes)
        failures = await store.failures_since(conn, request.target, request.environment, since)
        facts = gate.GateFacts(
            target=request.target,
            environment=request.environment,
            now=now,
            monitoring_enabled=engine.monitoring_enabled,
            critical_incidents=await samples.critical_incidents(conn, request.target),
            open_circuits=await samples.open_circuits(conn, target.hosts),
            degradation=await engine.degradation.current(conn, request.target),
            block_level=config.block_degradation_level,
            freezes=active_freezes(engine, request.target, request.environment, now),
            override=await current_override(conn, request.target, request.environment, now),
            recent_failures=[
                {
                    "id": row.id,
                    "version": row.version,
                    "state": row.state,
                    "finished_at": row.finished_at.isoformat() if row.finished_at else None,
                }
                for row in failures
                if config.recent_failure_minutes > 0
            ],
            recent_failure_minutes=config.recent_failure_minutes,
            health=health,
        )
    result = gate.decide(facts)
    async with engine.db.transaction() as conn:
        await audit.record(
            conn,
            at=now,
            actor=actor,
            action="deployment.gate",
            target=f"target:{request.target}",
            outcome="allowed" if result.allowed else "blocked",
            details={
                "environment": request.environment,
                "version": request.version,
                "reasons": [reason.code.value for reason in result.reasons if reason.blocking],
            },
        )
    return result


async def override(engine: Engine, request: FreezeOverrideRequest, actor: str) -> FreezeOverride:
    now = engine.clock.now()
    until = now + timedelta(minutes=request.minutes)
    async with engine.db.transaction() as conn:
        new_id = await conn.scalar(
            freeze_overrides.insert()
            .values(
                target=request.target,
                environment=request.environment,
                reason=request.reason,
                actor=actor,
                created_at=now,
                until=until,
            )
            .returning(freeze_overrides.c.id)
        )
        assert isinstance(new_id, int)
        await audit.record(
            conn,
            at=now,
            actor=actor,
            action="deployment.freeze_override",
            target=f"target:{request.target}",
            details={
                "environment": request.environment,
                "reason": request.reason,
                "until": until.isoformat(),
                "override_id": new_id,
            },
        )
    return FreezeOverride(
        id=new_id,
        target=request.target,
        environment=request.environment,
        reason=request.reason,
        actor=actor,
        until=until,
    )
