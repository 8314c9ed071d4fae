"""``POST /deployment/{target}/rollback`` and the auto-rollback switch.

A rollback request marks the deployment ``rollback_requested`` (who and why on its timeline) and
tracks the rollback as its own deployment (``kind=rollback``, ``rolls_back`` = the undone one),
which whoever performs the rollback reports on with ``deployed`` / ``finish``. When the target
declares ``rollback_workflow``, the hub also dispatches that GitHub workflow with the version to
restore, with the same ``workflow_dispatch`` inputs as the guard's dispatch (``ref``,
``deployment-id``, ``github-deployment-id``), so one rollback workflow serves both: GitHub refuses
a dispatch whose inputs the workflow does not declare. The reason stays on the hub's timeline.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

import httpx

from bounceback.api import audit
from bounceback.api.deployment_wire import (
    Deployment,
    DeploymentKind,
    DeploymentStatus,
    RollbackRequest,
    TrackRequest,
)
from bounceback.api.deployments import lifecycle, store
from bounceback.api.deployments.config import RollbackWorkflow
from bounceback.api.deployments.engine import Engine
from bounceback.api.deployments.store import DeploymentRow
from bounceback.api.errors import Conflict, Invalid, NotFound

log = logging.getLogger("bounceback.deployments")
GITHUB_API_VERSION = "2022-11-28"


async def request(engine: Engine, target: str, body: RollbackRequest, actor: str) -> Deployment:
    now = engine.clock.now()
    async with engine.db.transaction() as conn:
        if body.deployment_id is not None:
            row = await lifecycle.load(conn, body.deployment_id, lock=True)
            if (row.target, row.environment) != (target, body.environment):
                message = f"deployment {row.id} is of {row.target} ({row.environment})"
                raise Invalid(message, [{"field": "deployment_id", "message": message}])
        else:
            found = await store.page(
                conn, store.Filter(target, body.environment), before_id=None, limit=20
            )
            deploys = [r for r in found if r.kind == DeploymentKind.DEPLOY.value]
            if not deploys:
                raise NotFound(
                    f"no deployment of {target} ({body.environment}) to roll back",
                    {"target": target, "environment": body.environment},
                )
            row = await lifecycle.load(conn, deploys[0].id, lock=True)
        to_version = body.to_version or (
            await store.last_good_version(conn, target, body.environment, row.id)
            or row.previous_version
        )
        if to_version is None:
            message = "no earlier good version is known; give the version to restore"
            raise Conflict(message, [{"field": "to_version", "message": message}])
        await store.update(
            conn,
            row.id,
            {
                "rollback_requested": True,
                "rollback_reason": body.reason,
                "rollback_requested_by": actor,
                "updated_at": now,
            },
        )
        await store.add_event(
            conn,
            row.id,
            now,
            "rollback_requested",
            f"rollback to {to_version} requested by {actor}: {body.reason}",
            {"actor": actor, "reason": body.reason, "to_version": to_version},
        )
        track = TrackRequest(
            target=target,
            environment=body.environment,
            version=to_version,
            previous_version=row.version,
            kind=DeploymentKind.ROLLBACK,
            rolls_back=row.id,
            repository=row.repository,
            health_urls=row.health_urls,
            hosts=row.hosts,
        )
        rollback = await lifecycle.create(engine, conn, track, actor, now, undone=row)
        await audit.record(
            conn,
            at=now,
            actor=actor,
            action="deployment.rollback",
            target=f"deployment:{row.id}",
            details={"reason": body.reason, "to_version": to_version, "rollback": rollback.id},
        )
    engine.scheduler.wake()
    engine.wake_agents(set(rollback.hosts))  # a configuration restore may wait for them
    workflow = engine.config.target(target).rollback_workflow
    if workflow is not None:
        await _dispatch(engine, workflow, rollback)
    async with engine.db.read() as conn:
        return await lifecycle.view(engine, conn, await lifecycle.load(conn, rollback.id))


async def _dispatch(
    engine: Engine,
    workflow: RollbackWorkflow,
    rollback: DeploymentRow,
) -> None:
    """Start the workflow; its outcome goes on the rollback's timeline, never raises."""
    token = engine.settings.bounceback_github_token
    base = engine.config.github_api_url.rstrip("/")
    url = f"{base}/repos/{workflow.repository}/actions/workflows/{workflow.workflow}/dispatches"
    body = {
        "ref": workflow.ref,
        "inputs": {
            "ref": rollback.version,
            "deployment-id": str(rollback.id),
            "github-deployment-id": "",  # the dispatched run records its own on GitHub
        },
    }
    details: dict[str, Any] = {"repository": workflow.repository, "workflow": workflow.workflow}
    if token is None:
        kind, message = "dispatch_failed", "BOUNCEBACK_GITHUB_TOKEN is not set: not dispatched"
    else:
        headers = {
            "Authorization": f"Bearer {token.get_secret_value()}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": GITHUB_API_VERSION,
        }
        try:
            async with httpx.AsyncClient(transport=engine.github_transport, timeout=15) as client:
                response = await client.post(url, json=body, headers=headers)
        except httpx.HTTPError as exc:
            kind, message = "dispatch_failed", f"GitHub unreachable: {type(exc).__name__}"
        else:
            details["status"] = response.status_code
            if response.status_code in (200, 204):
                kind = "dispatched"
                message = f"workflow {workflow.workflow} dispatched on {workflow.ref}"
            else:
                kind = "dispatch_failed"
                message = f"GitHub answered {response.status_code}: {response.text[:300]}"
    if kind == "dispatch_failed":
        log.warning("rollback %s: %s", rollback.id, message)
    now = engine.clock.now()
    async with engine.db.transaction() as conn:
        await store.add_event(conn, rollback.id, now, kind, message, details)


async def status(engine: Engine) -> DeploymentStatus:
    now = engine.clock.now()
    async with engine.db.read() as conn:
        switch = await engine.auto_rollback(conn)
        last = await store.latest(conn)
        return DeploymentStatus(
            monitoring_enabled=engine.monitoring_enabled,
            auto_rollback_enabled=switch.enabled,
            stabilization_minutes=engine.settings.stabilization_period_minutes,
            monitoring_minutes=engine.settings.monitoring_duration_minutes,
            active=await store.active_count(conn),
            by_state=await store.counts_since(conn, now - timedelta(hours=24)),
            last_deployment=await lifecycle.view(engine, conn, last) if last else None,
        )


async def set_auto_rollback(engine: Engine, enabled: bool, actor: str) -> DeploymentStatus:
    now: datetime = engine.clock.now()
    async with engine.db.transaction() as conn:
        await engine.set_auto_rollback(conn, enabled, actor, now)
        await audit.record(
            conn,
            at=now,
            actor=actor,
            action=f"deployment.auto_rollback.{'enable' if enabled else 'disable'}",
            target="deployments",
        )
    return await status(engine)
