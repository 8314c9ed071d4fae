"""What the recovery endpoints do: status, stats, the switch, the test run, action CRUD.

Every change is audited in the transaction that makes it. Actions from hub.toml (and the
predefined ones) are read-only here, as escalation's provisioned objects are.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from bounceback.api import audit
from bounceback.api.errors import Conflict, NotFound
from bounceback.api.recovery import store
from bounceback.api.recovery.decide import OPEN_STATES
from bounceback.api.recovery.engine import RecoveryEngine
from bounceback.api.recovery.models import RecoveryAction
from bounceback.api.recovery.names import resolve_target
from bounceback.api.recovery.stats import Episode, stats


def shown(engine: RecoveryEngine, action: RecoveryAction) -> dict[str, Any]:
    return {**action.shown(), "provisioned": action.id in engine.catalog.provisioned}


async def actions(engine: RecoveryEngine) -> dict[str, RecoveryAction]:
    async with engine.db.read() as conn:
        return await engine.catalog.load(conn, engine.clock.now())


# Names the seed uses for predefined actions (its debug command tests "memory-cleanup").
ALIASES = {"memory-cleanup": "high-memory-usage"}


async def action(engine: RecoveryEngine, action_id: str) -> RecoveryAction:
    known = await actions(engine)
    found = known.get(action_id) or known.get(ALIASES.get(action_id, ""))
    if found is None:
        raise NotFound(f"no recovery action {action_id!r}")
    return found


async def status(engine: RecoveryEngine) -> dict[str, Any]:
    async with engine.db.read() as conn:
        enabled = await engine.enabled(conn)
        counts = await store.state_counts(conn)
        found = await engine.catalog.load(conn, engine.clock.now())
    s = engine.settings
    return {
        "enabled": enabled,
        "max_concurrent_recoveries": s.max_concurrent_recoveries,
        "global_cooldown_minutes": s.global_cooldown_minutes,
        "active": sum(counts.get(state.value, 0) for state in OPEN_STATES),
        "by_state": counts,
        "actions": len(found),
        "actions_enabled": sum(1 for a in found.values() if a.enabled),
    }


async def window_stats(engine: RecoveryEngine, window: timedelta) -> dict[str, Any]:
    now = engine.clock.now()
    async with engine.db.read() as conn:
        ends = await store.episode_ends(conn, now - window)
    episodes = [
        Episode(r.action_id, r.state, r.episode_started_at, r.finished_at, r.try_number)
        for r in ends
        if r.finished_at is not None
    ]
    return {
        "window_seconds": window.total_seconds(),
        "generated_at": now.isoformat(),
        **stats(episodes),
    }


async def switch(engine: RecoveryEngine, enabled: bool, actor: str) -> dict[str, Any]:
    async with engine.db.transaction() as conn:
        await engine.set_enabled(conn, enabled, actor)
        await audit.record(
            conn,
            at=engine.clock.now(),
            actor=actor,
            action=f"recovery.{'enable' if enabled else 'disable'}",
            target="recovery",
        )
    return await status(engine)


async def test(
    engine: RecoveryEngine,
    action_id: str,
    *,
    target: str | None,
    host: str | None,
    incident_id: int | None,
    execute: bool,
    actor: str,
) -> dict[str, Any]:
    """A dry run without a target shows the steps unresolved and the checks that do not depend
    on one; running for real needs a target (the route says so)."""
    found = await action(engine, action_id)
    steps = {
        phase: [
            {
                **s.model_dump(mode="json", by_alias=True),
                "target": resolve_target(s, target, host) if target else s.target,
            }
            for s in getattr(found.actions, phase)
        ]
        for phase in ("immediate", "rollback")
    }
    body: dict[str, Any] = {
        "action": shown(engine, found),
        "target": target,
        "host": host,
        "steps": steps,
        "execute": execute,
    }
    async with engine.db.transaction() as conn:
        if not execute:
            # No target: the per-target checks see one with no history (nothing blocks).
            verdict = await engine.safety(conn, found, target or "", manual=True)
        else:
            assert target is not None  # the route refuses a real run without one
            started = await engine.begin(
                conn,
                found,
                target=target,
                host=host,
                trigger="manual",
                actor=actor,
                incident_id=incident_id,
                manual=True,
            )
            verdict = started.verdict
            body.update(attempt_id=started.attempt_id, incident_id=started.incident_id)
            await audit.record(
                conn,
                at=engine.clock.now(),
                actor=actor,
                action="recovery.test.execute",
                target=f"recovery_action:{action_id}",
                details={"target": target, "attempt_id": started.attempt_id},
            )
    body["safety"] = {
        "allowed": verdict.allowed,
        "checks": [
            {"name": c.name, "passed": c.passed, "detail": c.detail} for c in verdict.checks
        ],
    }
    if execute:
        if started.attempt_id is None:
            raise Conflict(f"safety refuses: {verdict.reason}", body)
        engine.scheduler.wake()
    return body


async def put(engine: RecoveryEngine, item: RecoveryAction, actor: str, *, create: bool) -> None:
    now = engine.clock.now()
    if item.id in engine.catalog.provisioned:
        raise Conflict(
            f"recovery action {item.id!r} is defined in hub.toml or predefined; change it there",
            {"provisioned": True},
        )
    async with engine.db.transaction() as conn:
        existing = {a.id for a in await store.api_actions(conn)}
        if create and item.id in existing:
            raise Conflict(f"recovery action {item.id!r} exists already; PUT changes it")
        if not create and item.id not in existing:
            raise NotFound(f"no recovery action {item.id!r}; POST creates one")
        await store.put_action(conn, item, actor, now)
        await audit.record(
            conn,
            at=now,
            actor=actor,
            action=f"recovery.action.{'create' if create else 'update'}",
            target=f"recovery_action:{item.id}",
        )
        await engine.catalog.load(conn, now)


async def delete(engine: RecoveryEngine, action_id: str, actor: str) -> None:
    now = engine.clock.now()
    if action_id in engine.catalog.provisioned:
        raise Conflict(
            f"recovery action {action_id!r} is defined in hub.toml or predefined; change it there",
            {"provisioned": True},
        )
    async with engine.db.transaction() as conn:
        if not await store.delete_action(conn, action_id):
            raise NotFound(f"no recovery action {action_id!r}")
        await audit.record(
            conn,
            at=now,
            actor=actor,
            action="recovery.action.delete",
            target=f"recovery_action:{action_id}",
        )
        await engine.catalog.load(conn, now)
