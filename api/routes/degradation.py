"""The seed's Graceful Degradation Management section: status, active degradations, feature
states (with an ETag), manual activate/revert of a rule, and the enable/disable switch."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bounceback.api.auth.guard import principal, require
from bounceback.api.auth.roles import Role
from bounceback.api.context import Hub
from bounceback.api.degradation import render, store
from bounceback.api.degradation.flags import etag_matches
from bounceback.api.routes.body import parse_json

PREFIX = "/api/auto-recovery/degradation"


class ReasonBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: Annotated[str, Field(max_length=500)] | None = None


def _engine(request: Request) -> Hub:
    hub: Hub = request.app.state.hub
    return hub


@require(Role.VIEWER)
async def status_route(request: Request) -> Response:
    hub = _engine(request)
    engine = hub.degradation
    async with hub.db.read() as conn:
        states = await store.states(conn)
        switch = await engine.switch(conn)
        shot = await engine.snapshot(conn)
        events = await store.recent_events(conn, limit=20)
    body = render.status(
        engine.config,
        states,
        switch,
        shot,
        interval=hub.settings.degradation_check_interval,
        events=events,
    )
    return JSONResponse(body)


@require(Role.VIEWER)
async def active_route(request: Request) -> Response:
    hub = _engine(request)
    async with hub.db.read() as conn:
        states = await store.states(conn)
        level = (await hub.degradation.snapshot(conn)).level
    items = [
        item for item in render.rules(hub.degradation.config, states) if item["state"]["active"]
    ]
    return JSONResponse({"level": level.value, "items": items})


@require(Role.VIEWER)
async def rules_route(request: Request) -> Response:
    hub = _engine(request)
    async with hub.db.read() as conn:
        states = await store.states(conn)
    return JSONResponse({"items": render.rules(hub.degradation.config, states)})


@require(Role.VIEWER)
async def features_route(request: Request) -> Response:
    """Every flag's value; ``If-None-Match`` with the last ETag answers 304 while unchanged."""
    hub = _engine(request)
    async with hub.db.read() as conn:
        shot = await hub.degradation.snapshot(conn)
    headers = {"ETag": shot.etag, "Cache-Control": "no-cache"}
    if etag_matches(request.headers.get("if-none-match"), shot.etag):
        return Response(status_code=304, headers=headers)
    body = {
        "enabled": shot.enabled,
        "level": shot.level.value,
        "features": shot.values(),
        "details": {key: flag.wire() for key, flag in shot.flags.items()},
    }
    return JSONResponse(body, headers=headers)


async def _rule_change(request: Request, *, activate: bool) -> Response:
    hub = _engine(request)
    body = await parse_json(request, ReasonBody, empty_ok=True)
    rule_id = request.path_params["id"]
    actor = principal(request).actor
    reason = body.reason or ("activated by hand" if activate else "reverted by hand")
    if activate:
        state = await hub.degradation.activate(rule_id, reason, actor)
    else:
        state = await hub.degradation.revert(rule_id, reason, actor)
    found = hub.degradation.rule(rule_id)
    return JSONResponse(render.rule(hub.degradation.config, found, state))


@require(Role.OPERATOR)
async def activate_route(request: Request) -> Response:
    return await _rule_change(request, activate=True)


@require(Role.OPERATOR)
async def revert_route(request: Request) -> Response:
    return await _rule_change(request, activate=False)


async def _switch(request: Request, enabled: bool) -> Response:
    hub = _engine(request)
    await parse_json(request, ReasonBody, empty_ok=True)
    switch = await hub.degradation.set_enabled(enabled, principal(request).actor)
    return JSONResponse(
        {
            "enabled": switch.enabled,
            "changed_at": switch.changed_at.isoformat() if switch.changed_at else None,
            "changed_by": switch.changed_by,
        }
    )


@require(Role.ADMIN)
async def enable_route(request: Request) -> Response:
    return await _switch(request, True)


@require(Role.ADMIN)
async def disable_route(request: Request) -> Response:
    return await _switch(request, False)


routes = [
    Route(f"{PREFIX}/status", status_route, methods=["GET"]),
    Route(f"{PREFIX}/active", active_route, methods=["GET"]),
    Route(f"{PREFIX}/features", features_route, methods=["GET"]),
    Route(f"{PREFIX}/rules", rules_route, methods=["GET"]),
    Route(f"{PREFIX}/rules/{{id}}/activate", activate_route, methods=["POST"]),
    Route(f"{PREFIX}/rules/{{id}}/revert", revert_route, methods=["POST"]),
    Route(f"{PREFIX}/enable", enable_route, methods=["POST"]),
    Route(f"{PREFIX}/disable", disable_route, methods=["POST"]),
]
