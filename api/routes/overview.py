"""``GET /api/auto-recovery/overview``: the status of every subsystem the hub runs, with counts."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bounceback.api.agents import summaries
from bounceback.api.auth.guard import require
from bounceback.api.auth.roles import Role
from bounceback.api.context import Hub
from bounceback.api.deployments import rollback as deployments
from bounceback.api.escalation.queries import status_counts as escalation_counts
from bounceback.api.incidents import queries
from bounceback.api.recovery import operations as recovery
from bounceback.api.work import queue


async def overview(hub: Hub) -> dict[str, Any]:
    async with hub.db.read() as conn:
        incident_counts = await queries.counts(conn)
        work_counts = await queue.counts(conn)
        agent_counts = await summaries.overview_counts(conn, hub.settings)
        degradation = await hub.degradation.summary(conn)
        escalation = await escalation_counts(conn)
        has_policies = bool((await hub.directories.load(conn)).policies)
    recovery_status = await recovery.status(hub.recovery)
    deployment_status = await deployments.status(hub.deployments)
    now = hub.clock.now()
    return {
        "generated_at": now.isoformat(),
        "hub": {
            "version": "0.1.0",
            "database": hub.db.dialect,
            "uptime_seconds": round((now - hub.started_at).total_seconds(), 1),
            "process": hub.scheduler.owner,
        },
        "subsystems": {
            "incidents": {"status": "running", **incident_counts},
            "intake": {
                "status": "running" if hub.ingest.alive else "stopped",
                "routes": [
                    "/api/alerts",
                    "/api/integrations/alertmanager",
                    "/api/integrations/pagerduty/v2/enqueue",
                ],
                "events_since_start": hub.ingest.events,
                "commits_since_start": hub.ingest.batches,
            },
            "scheduled_work": {
                "status": "running" if hub.scheduler.alive else "stopped",
                "by_state": work_counts,
                "completed_since_start": hub.scheduler.completed,
            },
            **agent_counts,
            "recovery": {
                "status": "running" if hub.scheduler.alive else "stopped",
                **recovery_status,
            },
            "degradation": degradation,
            "escalation": {
                "status": "running"
                if hub.settings.escalation_enabled and has_policies
                else "idle (no policy)"
                if hub.settings.escalation_enabled
                else "disabled",
                "channels": sorted(
                    name for name in hub.channels.channels if hub.channels.usable(name)
                ),
                **escalation,
            },
            "deployments": {
                "status": "running" if deployment_status.monitoring_enabled else "disabled",
                "auto_rollback_enabled": deployment_status.auto_rollback_enabled,
                "active": deployment_status.active,
                "last_24h_by_state": deployment_status.by_state,
            },
        },
        "settings": {
            "auto_recovery_enabled": hub.settings.auto_recovery_enabled,
            "degradation_enabled": hub.settings.degradation_enabled,
            "escalation_enabled": hub.settings.escalation_enabled,
            "self_healing_enabled": hub.settings.self_healing_enabled,
            "deployment_monitoring_enabled": hub.settings.deployment_monitoring_enabled,
            "auto_rollback_enabled": hub.settings.auto_rollback_enabled,
        },
    }


@require(Role.VIEWER)
async def overview_route(request: Request) -> Response:
    return JSONResponse(await overview(request.app.state.hub))


routes = [Route("/api/auto-recovery/overview", overview_route, methods=["GET"])]
