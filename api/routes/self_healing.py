"""The seed's Self-Healing Management section, over the fleet of agents."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bounceback.api.agent_wire import AGENT_ID_PATTERN, HealingOutcome
from bounceback.api.agents import healing, health, store, summaries
from bounceback.api.auth.guard import principal, require
from bounceback.api.auth.roles import Role
from bounceback.api.context import Hub
from bounceback.api.errors import NotFound
from bounceback.api.pagination import decode_cursor, encode_cursor, parse_limit
from bounceback.api.routes import query
from bounceback.api.routes.agents import host_query
from bounceback.api.routes.body import parse_json
from bounceback.api.routes.params import enum_param, text_param, time_param

PREFIX = "/api/auto-recovery/self-healing"
AgentId = Annotated[str, Field(pattern=AGENT_ID_PATTERN)]


class ForceBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    host: AgentId
    action: Annotated[str, Field(min_length=1, max_length=200)]
    dry_run: bool = False
    reason: Annotated[str, Field(max_length=500)] | None = None


class SwitchBody(BaseModel):
    """No host: the whole fleet (and the hub's switch); a host: that agent only."""

    model_config = ConfigDict(extra="forbid")
    host: AgentId | None = None


@require(Role.VIEWER)
async def status_route(request: Request) -> Response:
    hub: Hub = request.app.state.hub
    async with hub.db.read() as conn:
        body = await summaries.self_healing_status(conn, hub.settings, hub.clock.now())
    return JSONResponse(body)


@require(Role.VIEWER)
async def health_route(request: Request) -> Response:
    query.only(request, query.HOST)
    hub: Hub = request.app.state.hub
    host = host_query(request)
    async with hub.db.read() as conn:
        agents = await store.list_all(conn, host)
    if host is not None and not agents:
        raise NotFound(f"no agent {host!r} has reported to this hub")
    limits = summaries.thresholds(hub.settings)
    hosts = [health.host(agent, limits) for agent in agents]
    return JSONResponse(
        {
            "generated_at": hub.clock.now().isoformat(),
            "fleet": health.fleet(hosts),
            "thresholds": {
                "memory_percent": limits.memory_percent,
                "cpu_percent": limits.cpu_percent,
                "disk_percent": limits.disk_percent,
            },
            "hosts": hosts,
        }
    )


@require(Role.VIEWER)
async def history_route(request: Request) -> Response:
    query.only(request, query.HEALING)
    hub: Hub = request.app.state.hub
    filters = healing.HistoryFilter(
        host=host_query(request),
        action=text_param(request, "action"),
        outcome=enum_param(request, "outcome", HealingOutcome),
        since=time_param(request, "since"),
        until=time_param(request, "until"),
    )
    limit = parse_limit(request.query_params.get("limit"))
    before = decode_cursor(request.query_params.get("cursor"))
    async with hub.db.read() as conn:
        items = await healing.history(conn, filters, before_id=before, limit=limit)
    next_cursor = encode_cursor(items[-1]["id"]) if len(items) == limit else None
    return JSONResponse({"items": items, "next_cursor": next_cursor})


@require(Role.VIEWER)
async def active_route(request: Request) -> Response:
    query.only(request, query.HOST)
    hub: Hub = request.app.state.hub
    host = host_query(request)
    async with hub.db.read() as conn:
        items = await healing.active(conn, host)
    return JSONResponse({"items": items})


async def _switch(request: Request, enabled: bool) -> Response:
    hub: Hub = request.app.state.hub
    body = await parse_json(request, SwitchBody, empty_ok=True)
    issued = await hub.fleet.set_self_healing(
        enabled, host=body.host, actor=principal(request).actor
    )
    return JSONResponse(
        {
            "enabled": enabled,
            "scope": "host" if body.host else "fleet",
            "host": body.host,
            "commands": issued,
        }
    )


@require(Role.ADMIN)
async def enable_route(request: Request) -> Response:
    return await _switch(request, True)


@require(Role.ADMIN)
async def disable_route(request: Request) -> Response:
    return await _switch(request, False)


@require(Role.OPERATOR)
async def force_route(request: Request) -> Response:
    hub: Hub = request.app.state.hub
    body = await parse_json(request, ForceBody)
    command = await hub.fleet.force(
        body.host,
        body.action,
        dry_run=body.dry_run,
        reason=body.reason,
        actor=principal(request).actor,
    )
    return JSONResponse({"command": command}, status_code=202)


routes = [
    Route(f"{PREFIX}/status", status_route, methods=["GET"]),
    Route(f"{PREFIX}/health", health_route, methods=["GET"]),
    Route(f"{PREFIX}/history", history_route, methods=["GET"]),
    Route(f"{PREFIX}/active", active_route, methods=["GET"]),
    Route(f"{PREFIX}/enable", enable_route, methods=["POST"]),
    Route(f"{PREFIX}/disable", disable_route, methods=["POST"]),
    Route(f"{PREFIX}/force", force_route, methods=["POST"]),
]
