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
from bounceback.api.incidents import queries
from bounceback.api.recovery import operations as recovery
from bounceback.api.work import queue


async def overview(hub: Hub) -> dict[str, Any]:
    async with hub.db.read() as conn:
        incident_counts = await queries.counts(conn)
        work_counts = await queue.counts(conn)
        agent_counts = await summaries.overview_counts(conn, hub.settings)
        degradation = await hub.degradation.summary(conn)
    recovery_status = await recovery.status(hub.recovery)
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
