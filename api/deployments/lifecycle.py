"""A deployment's life as the guard reports it: track, deployed, finish. Each call is one
transaction with its audit record; the watch's work is scheduled in the same transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from bounceback.api import audit
from bounceback.api.deployment_wire import (
    TERMINAL_STATES,
    DeployedRequest,
    Deployment,
    DeploymentKind,
    DeploymentState,
    FinishRequest,
    TrackRequest,
)
from bounceback.api.deployments import outcomes, render, restore, store, watch
from bounceback.api.deployments.engine import PROBE_KIND, WATCH_KIND, Engine
from bounceback.api.deployments.store import DeploymentRow
from bounceback.api.errors import Conflict, Invalid, NotFound

# Where the probes run; the watch judges only the two phases after the deploy.
PROBED_STATES = frozenset(
    {
        DeploymentState.REGISTERED.value,
        DeploymentState.DEPLOYING.value,
        DeploymentState.STABILIZING.value,
        DeploymentState.MONITORING.value,
    }
)
WATCHED_STATES = frozenset({DeploymentState.STABILIZING.value, DeploymentState.MONITORING.value})


def _invalid(field: str, message: str) -> Invalid:
    return Invalid(f"invalid field '{field}': {message}", [{"field": field, "message": message}])


def probe_key(deployment_id: int, round_number: int) -> str:
    return f"{PROBE_KIND}:{deployment_id}:{round_number}"


def watch_key(deployment_id: int, look: int) -> str:
    return f"{WATCH_KIND}:{deployment_id}:{look}"


def schedule_of(engine: Engine, row: DeploymentRow) -> watch.Schedule:
    assert row.deployed_at is not None
    return watch.schedule_for(
        row.deployed_at,
        warmup_seconds=engine.config.warmup_seconds,
        stabilization_minutes=row.stabilization_minutes,
        monitoring_minutes=row.monitoring_minutes,
        look_interval_seconds=engine.config.look_interval_seconds,
    )


async def view(engine: Engine, conn: AsyncConnection, row: DeploymentRow) -> Deployment:
    good = await store.last_good_version(conn, row.target, row.environment, row.id)
    return render.deployment(row, engine.settings.public_url, good or row.previous_version)


async def load(conn: AsyncConnection, deployment_id: int, *, lock: bool = False) -> DeploymentRow:
    row = await store.get(conn, deployment_id, lock=lock)
    if row is None:
        raise NotFound(f"deployment {deployment_id} does not exist", {"id": deployment_id})
    return row


async def create(
    engine: Engine,
    conn: AsyncConnection,
    request: TrackRequest,
    actor: str,
    now: datetime,
    *,
    undone: DeploymentRow | None = None,
) -> DeploymentRow:
    """Insert a deployment, supersede older open ones, start its baseline probes."""
    target = engine.config.target(request.target)
    health_urls = list(request.health_urls or target.health_urls)
    hosts = list(request.hosts or target.hosts)
    previous = request.previous_version or await store.last_good_version(
        conn, request.target, request.environment, None
    )
    monitored = engine.monitoring_enabled
    new_id = await store.insert(
        conn,
        {
            "target": request.target,
            "environment": request.environment,
            "version": request.version,
            "previous_version": previous,
            "kind": request.kind.value,
            "rolls_back": undone.id if undone else None,
            "state": DeploymentState.REGISTERED.value,
            "dry_run": request.dry_run,
            "monitored": monitored,
            "repository": request.repository,
            "github_deployment_id": request.github_deployment_id,
            "run_url": request.run_url,
            "actor": actor,
            "created_at": now,
            "updated_at": now,
            "stabilization_minutes": _or(
                request.stabilization_minutes, engine.settings.stabilization_period_minutes
            ),
            "monitoring_minutes": _or(
                request.monitoring_minutes, engine.settings.monitoring_duration_minutes
            ),
            "health_urls": health_urls,
            "hosts": hosts,
            "thresholds": request.thresholds.model_dump(exclude_none=True),
            "rollback_requested": False,
            "baseline": {},
        },
    )
    what = "rollback" if undone else "deployment"
    await store.add_event(
        conn, new_id, now, "tracked", f"{what} of {request.version} tracked by {actor}"
    )
    for old in await store.open_deployments(conn, request.target, request.environment, lock=True):
        if old.id in (new_id, undone.id if undone else None):
            continue
        await store.update(
            conn,
            old.id,
            {"state": DeploymentState.CANCELLED.value, "finished_at": now, "updated_at": now},
        )
        await store.add_event(
            conn, old.id, now, "cancelled", f"superseded by deployment {new_id}", {"by": new_id}
        )
    if undone is not None:
        await store.update(
            conn,
            undone.id,
            {
                "state": DeploymentState.ROLLING_BACK.value,
                "rolled_back_by": new_id,
                "updated_at": now,
            },
        )
        await store.add_event(
            conn,
            undone.id,
            now,
            "rolling_back",
            f"rolling back to {request.version} (deployment {new_id})",
            {"rollback": new_id},
        )
    if request.kind is DeploymentKind.ROLLBACK and target.restore_config is not None:
        facts = {
            "to_version": request.version,
            "from_version": undone.version if undone else (request.previous_version or ""),
            "deployment_id": str(new_id),
            "target": request.target,
            "environment": request.environment,
        }
        await restore.issue(conn, target.restore_config, new_id, hosts, facts, now)
    if not monitored:
        await store.add_event(
            conn, new_id, now, "not_watched", "DEPLOYMENT_MONITORING_ENABLED is off: recorded only"
        )
    elif health_urls or hosts:
        await engine.scheduler.schedule(
            PROBE_KIND, probe_key(new_id, 0), now, {"id": new_id, "round": 0}, conn=conn
        )
    else:
        await store.add_event(
            conn,
            new_id,
            now,
            "baseline",
            "no health URLs and no hosts: the judge has only incidents and circuits to go on",
        )
    return await load(conn, new_id)


def _or(value: float | None, default: float) -> float:
    return default if value is None else value


async def track(engine: Engine, request: TrackRequest, actor: str) -> Deployment:
    now = engine.clock.now()
    async with engine.db.transaction() as conn:
        undone = None
        if request.kind is DeploymentKind.ROLLBACK:
            if request.rolls_back is None:
                raise _invalid("rolls_back", "a rollback must name the deployment it undoes")
            undone = await store.get(conn, request.rolls_back, lock=True)
            if undone is None:
                raise _invalid("rolls_back", f"deployment {request.rolls_back} does not exist")
            if (undone.target, undone.environment) != (request.target, request.environment):
                raise _invalid("rolls_back", "that deployment is of another target or environment")
        elif request.rolls_back is not None:
            raise _invalid("rolls_back", "only a deployment of kind 'rollback' undoes another")
        joined = await _pending_rollback(conn, undone, request.version)
        row = joined or await create(engine, conn, request, actor, now, undone=undone)
        await audit.record(
            conn,
            at=now,
            actor=actor,
            action="deployment.track",
            target=f"deployment:{row.id}",
            outcome="joined" if joined else "ok",
            details={"target": row.target, "environment": row.environment, "kind": row.kind},
        )
        result = await view(engine, conn, row)
    engine.scheduler.wake()
    if row.is_rollback and not joined:
        engine.wake_agents(set(row.hosts))  # a configuration restore may wait for them
    return result


async def _pending_rollback(
    conn: AsyncConnection, undone: DeploymentRow | None, version: str
) -> DeploymentRow | None:
    """The rollback of ``undone`` to ``version`` that the hub already tracked (the rollback
    endpoint, or the "Deployment Failure" recovery action) and nobody has performed yet: whoever
    performs it (the guard's watch) reports on that one instead of tracking a second."""
    if undone is None or undone.rolled_back_by is None:
        return None
    pending = await store.get(conn, undone.rolled_back_by, lock=True)
    if pending is None or pending.terminal or pending.deployed_at is not None:
        return None
    return pending if pending.version == version else None


async def deployed(
    engine: Engine, deployment_id: int, request: DeployedRequest, actor: str
) -> Deployment:
    now = engine.clock.now()
    async with engine.db.transaction() as conn:
        row = await load(conn, deployment_id, lock=True)
        if request.github_deployment_id is not None and row.github_deployment_id is None:
            await store.update(conn, row.id, {"github_deployment_id": request.github_deployment_id})
        outcome = "ok"
        if row.deployed_at is not None or row.terminal:
            outcome = "unchanged"  # a retried call: the first one counted
        elif not request.succeeded:
            reason = f"the deploy command failed: {request.message or 'no message'}"
            switch = await engine.auto_rollback(conn)
            await outcomes.finish(
                conn, row, DeploymentState.FAILED, now, reason=reason, auto_rollback=switch.enabled
            )
        elif row.state not in (DeploymentState.REGISTERED.value, DeploymentState.DEPLOYING.value):
            raise Conflict(
                f"deployment {row.id} is {row.state}; only a registered or deploying one can be "
                "marked deployed",
                {"state": row.state},
            )
        else:
            await _start_watch(engine, conn, row, request.message, now)
        await audit.record(
            conn,
            at=now,
            actor=actor,
            action="deployment.deployed",
            target=f"deployment:{row.id}",
            outcome=outcome,
            details={"succeeded": request.succeeded},
        )
        result = await view(engine, conn, await load(conn, row.id))
    engine.scheduler.wake()
    return result


async def _start_watch(
    engine: Engine, conn: AsyncConnection, row: DeploymentRow, message: str, now: datetime
) -> None:
    values: dict[str, Any] = {"deployed_at": now, "updated_at": now}
    note = f": {message}" if message else ""
    await store.add_event(conn, row.id, now, "deployed", f"deploy finished{note}")
    if not row.monitored:
        values.update(state=DeploymentState.SUCCEEDED.value, finished_at=now)
        await store.add_event(
            conn,
            row.id,
            now,
            "succeeded",
            "not watched (DEPLOYMENT_MONITORING_ENABLED is off): the deploy command succeeded",
        )
        await store.update(conn, row.id, values)
        return
    values["state"] = DeploymentState.STABILIZING.value
    await store.update(conn, row.id, values)
    schedule = schedule_of(engine, await load(conn, row.id))
    await store.add_event(
        conn,
        row.id,
        now,
        "stabilizing",
        f"warm-up {engine.config.warmup_seconds:g} s and stabilization "
        f"{row.stabilization_minutes:g} min; monitoring {row.monitoring_minutes:g} min from "
        f"{schedule.monitoring_starts.isoformat()} in {schedule.max_looks} looks",
        {"monitoring_starts": schedule.monitoring_starts, "max_looks": schedule.max_looks},
    )
    await engine.scheduler.schedule(
        WATCH_KIND,
        watch_key(row.id, 0),
        schedule.monitoring_starts,
        {"id": row.id},
        conn=conn,
    )


async def finish(
    engine: Engine, deployment_id: int, request: FinishRequest, actor: str
) -> Deployment:
    if request.outcome not in TERMINAL_STATES:
        allowed = ", ".join(sorted(state.value for state in TERMINAL_STATES))
        raise _invalid("outcome", f"must be a terminal state: {allowed}")
    now = engine.clock.now()
    async with engine.db.transaction() as conn:
        row = await load(conn, deployment_id, lock=True)
        outcome = "ok"
        if row.terminal:
            if row.state != request.outcome.value:
                raise Conflict(
                    f"deployment {row.id} already ended {row.state}",
                    {"state": row.state, "requested": request.outcome.value},
                )
            outcome = "unchanged"
        else:
            switch = await engine.auto_rollback(conn)
            reason = request.message or f"finished by {actor}"
            await outcomes.finish(
                conn, row, request.outcome, now, reason=reason, auto_rollback=switch.enabled
            )
        await audit.record(
            conn,
            at=now,
            actor=actor,
            action="deployment.finish",
            target=f"deployment:{row.id}",
            outcome=outcome,
            details={"outcome": request.outcome.value},
        )
        return await view(engine, conn, await load(conn, row.id))
