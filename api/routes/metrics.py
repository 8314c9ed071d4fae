"""``GET /metrics``: Prometheus' text format. A viewer token by default; public when
``BOUNCEBACK_METRICS_PUBLIC=true`` (a scraper inside a trusted network, no token to manage)."""

from __future__ import annotations

import functools

from prometheus_client import CONTENT_TYPE_LATEST
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bounceback.api.auth.guard import Endpoint, require
from bounceback.api.auth.roles import Role
from bounceback.api.context import Hub
from bounceback.api.metrics import snapshot
from bounceback.api.metrics.collector import exposition


def viewer_unless_public(endpoint: Endpoint) -> Endpoint:
    """A viewer token, unless the hub's settings make the route public."""
    guarded = require(Role.VIEWER)(endpoint)

    @functools.wraps(guarded)
    async def chosen(request: Request) -> Response:
        hub: Hub = request.app.state.hub
        if hub.settings.bounceback_metrics_public:
            return await endpoint(request)
        return await guarded(request)

    return chosen


@viewer_unless_public
async def metrics(request: Request) -> Response:
    hub: Hub = request.app.state.hub
    async with hub.db.read() as conn, conn.begin():
        level = (await hub.degradation.snapshot(conn)).level
        shot = await snapshot.read(conn, hub.clock.now(), level)
    return Response(exposition(shot, hub.metrics.registry), media_type=CONTENT_TYPE_LATEST)


routes = [Route("/metrics", metrics, methods=["GET"])]
