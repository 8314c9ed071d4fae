"""The seed's Auto Recovery Management section, plus recovery actions' CRUD (admin to change)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bounceback.api.auth.guard import principal, require
from bounceback.api.auth.roles import Role
from bounceback.api.context import Hub
from bounceback.api.errors import Invalid
from bounceback.api.pagination import decode_cursor, encode_cursor, parse_limit
from bounceback.api.recovery import operations, store
from bounceback.api.recovery.models import RecoveryAction
from bounceback.api.recovery.stats import parse_window
from bounceback.api.routes import query
from bounceback.api.routes.body import parse_json
from bounceback.api.routes.params import text_param

PREFIX = "/api/auto-recovery"


class TestBody(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    host: Annotated[str, Field(min_length=1, max_length=255)] | None = None
    target: Annotated[str, Field(min_length=1, max_length=255)] | None = None
    # The seed's debug command sends {"alertId": "test-alert-id"}: an incident number links the
    # attempt to that incident; any other reference is echoed back and otherwise ignored.
    alert_id: int | Annotated[str, Field(min_length=1, max_length=255)] | None = Field(
        None, alias="alertId"
    )

    @property
    def incident_id(self) -> int | None:
        raw = self.alert_id
        if isinstance(raw, str) and raw.isdigit():
            raw = int(raw)
        return raw if isinstance(raw, int) and raw > 0 else None


def _hub(request: Request) -> Hub:
    hub: Hub = request.app.state.hub
    return hub


@require(Role.VIEWER)
async def status_route(request: Request) -> Response:
    return JSONResponse(await operations.status(_hub(request).recovery))


@require(Role.VIEWER)
async def stats_route(request: Request) -> Response:
    query.only(request, query.STATS)
    raw = request.query_params.get("window", "24h")
    window = parse_window(raw)
    if window is None:
        message = f"invalid window {raw!r}: use minutes, hours or days, e.g. 30m, 24h, 7d"
        raise Invalid(message, [{"field": "window", "message": message}])
    return JSONResponse(await operations.window_stats(_hub(request).recovery, window))


def _filters(request: Request) -> store.HistoryFilter:
    return store.HistoryFilter(
        action_id=text_param(request, "action"),
        target=text_param(request, "target"),
        state=text_param(request, "state"),
        trigger=text_param(request, "trigger"),
    )


async def _page(request: Request, *, open_only: bool) -> Response:
    query.only(request, query.RECOVERY)
    hub = _hub(request)
    limit = parse_limit(request.query_params.get("limit"))
    before = decode_cursor(request.query_params.get("cursor"))
    async with hub.db.read() as conn:
        rows = await store.page(
            conn, _filters(request), before_id=before, limit=limit, open_only=open_only
        )
    next_cursor = encode_cursor(rows[-1].id) if len(rows) == limit else None
    return JSONResponse({"items": [r.shown() for r in rows], "next_cursor": next_cursor})


@require(Role.VIEWER)
async def active_route(request: Request) -> Response:
    return await _page(request, open_only=True)


@require(Role.VIEWER)
async def history_route(request: Request) -> Response:
    return await _page(request, open_only=False)


@require(Role.ADMIN)
async def enable_route(request: Request) -> Response:
    hub = _hub(request)
    return JSONResponse(await operations.switch(hub.recovery, True, principal(request).actor))


@require(Role.ADMIN)
async def disable_route(request: Request) -> Response:
    hub = _hub(request)
    return JSONResponse(await operations.switch(hub.recovery, False, principal(request).actor))


@require(Role.OPERATOR)
async def test_route(request: Request) -> Response:
    query.only(request, query.TEST)
    """A dry run (steps, targets, safety checks that apply); ``?execute=true`` runs it."""
    execute = request.query_params.get("execute", "false").lower() in ("1", "true", "yes")
    body = await parse_json(request, TestBody, empty_ok=True)
    target = body.target or body.host
    if target is None and execute:
        message = "give the host (or target) to run the action on"
        raise Invalid(message, [{"field": "host", "message": message}])
    result = await operations.test(
        _hub(request).recovery,
        request.path_params["action_id"],
        target=target,
        host=body.host,
        incident_id=body.incident_id,
        execute=execute,
        actor=principal(request).actor,
    )
    if body.alert_id is not None:
        result["alert_id"] = body.alert_id
    return JSONResponse(result, status_code=202 if execute else 200)


@require(Role.VIEWER)
async def list_actions(request: Request) -> Response:
    engine = _hub(request).recovery
    found = await operations.actions(engine)
    items = [operations.shown(engine, a) for _, a in sorted(found.items())]
    return JSONResponse({"items": items})


@require(Role.VIEWER)
async def get_action(request: Request) -> Response:
    engine = _hub(request).recovery
    found = await operations.action(engine, request.path_params["action_id"])
    return JSONResponse(operations.shown(engine, found))


@require(Role.ADMIN)
async def create_action(request: Request) -> Response:
    engine = _hub(request).recovery
    item = await parse_json(request, RecoveryAction)
    await operations.put(engine, item, principal(request).actor, create=True)
    return JSONResponse(operations.shown(engine, item), status_code=201)


@require(Role.ADMIN)
async def update_action(request: Request) -> Response:
    engine = _hub(request).recovery
    item = await parse_json(request, RecoveryAction)
    ident = request.path_params["action_id"]
    if item.id != ident:
        message = f"the body's id must be {ident!r}, as in the path"
        raise Invalid(f"invalid field 'id': {message}", [{"field": "id", "message": message}])
    await operations.put(engine, item, principal(request).actor, create=False)
    return JSONResponse(operations.shown(engine, item))


@require(Role.ADMIN)
async def delete_action(request: Request) -> Response:
    engine = _hub(request).recovery
    await operations.delete(engine, request.path_params["action_id"], principal(request).actor)
    return Response(status_code=204)


routes = [
    Route(f"{PREFIX}/status", status_route, methods=["GET"]),
    Route(f"{PREFIX}/stats", stats_route, methods=["GET"]),
    Route(f"{PREFIX}/active", active_route, methods=["GET"]),
    Route(f"{PREFIX}/history", history_route, methods=["GET"]),
    Route(f"{PREFIX}/enable", enable_route, methods=["POST"]),
    Route(f"{PREFIX}/disable", disable_route, methods=["POST"]),
    Route(f"{PREFIX}/test/{{action_id}}", test_route, methods=["POST"]),
    Route(f"{PREFIX}/actions", list_actions, methods=["GET"]),
    Route(f"{PREFIX}/actions", create_action, methods=["POST"]),
    Route(f"{PREFIX}/actions/{{action_id}}", get_action, methods=["GET"]),
    Route(f"{PREFIX}/actions/{{action_id}}", update_action, methods=["PUT"]),
    Route(f"{PREFIX}/actions/{{action_id}}", delete_action, methods=["DELETE"]),
]
