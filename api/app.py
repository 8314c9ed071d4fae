"""The hub's ASGI application: explicit routes, middleware and lifespan."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import BaseRoute

from bounceback.api import openapi
from bounceback.api.clock import Clock, SystemClock
from bounceback.api.context import Hub
from bounceback.api.dashboard import routes as dashboard
from bounceback.api.errors import EXCEPTION_HANDLERS
from bounceback.api.middleware import BodyLimitMiddleware, RequestIdMiddleware
from bounceback.api.routes import (
    agents,
    alerts,
    audit,
    circuits,
    degradation,
    deployments,
    escalation,
    health,
    incidents,
    metrics,
    ofrep,
    oncall,
    overview,
    recovery,
    self_healing,
    slack,
    twilio,
)
from bounceback.api.settings import HubSettings
from bounceback.api.store.db import Database
from bounceback.api.store.migrate import migrate

log = logging.getLogger("bounceback.hub")

# Starlette tries routes in order: alert intake, by far the busiest path, comes first.
ROUTES: list[BaseRoute] = [
    *alerts.routes,
    *health.routes,
    *openapi.routes,
    *metrics.routes,
    *overview.routes,
    *recovery.routes,
    *incidents.routes,
    *audit.routes,
    *agents.routes,
    *self_healing.routes,
    *circuits.routes,
    *deployments.routes,
    *degradation.routes,
    *ofrep.routes,
    *escalation.routes,
    *oncall.routes,
    *slack.routes,
    *twilio.routes,
]


def create_app(
    settings: HubSettings,
    *,
    clock: Clock | None = None,
    db: Database | None = None,
    run_migrations: bool = True,
) -> Starlette:
    clock = clock or SystemClock()
    db = db or Database(settings.sqlalchemy_url, schema=settings.bounceback_database_schema)
    hub = Hub.build(settings, db, clock)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if run_migrations:
            await migrate(db)
        stop_refresh = asyncio.Event()
        async with db.read() as conn:
            await hub.directories.load(conn)  # before intake: does escalation have policies?
        refresh = asyncio.create_task(hub.directories.keep_fresh(db, clock, stop_refresh))
        hub.ingest.start()
        await hub.signals.start()
        hub.scheduler.start()
        await hub.recovery.start()
        await hub.degradation.start()
        await hub.retention.start()
        log.info("hub ready (%s store, process %s)", db.dialect, hub.scheduler.owner)
        try:
            yield
        finally:
            # In-flight requests have drained (uvicorn waits for them; HubServer ends the
            # dashboards' event streams first); finish queued work.
            hub.changes.close()
            await hub.ingest.close()
            await hub.agent_reports.close()
            stop_refresh.set()
            await refresh
            await hub.scheduler.stop()
            await hub.signals.stop()
            await db.dispose()
            log.info("hub stopped")

    app = Starlette(
        routes=[*ROUTES, *dashboard.routes],
        middleware=[
            Middleware(RequestIdMiddleware, access_log_enabled=settings.bounceback_access_log),
            Middleware(BodyLimitMiddleware, max_bytes=settings.bounceback_max_body_bytes),
        ],
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=lifespan,
    )
    app.state.hub = hub
    return app
