"""The seed's Deployment Monitoring endpoints plus the guard's gate, deployed, finish and freeze
override (the contract: ``api/deployment_wire.py``)."""

from __future__ import annotations

import re

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bounceback.api.auth.deployer import allow_target, oidc_targets, require_deployer
from bounceback.api.auth.guard import principal, require
from bounceback.api.auth.roles import Role
from bounceback.api.context import Hub
from bounceback.api.deployment_wire import (
    TARGET_PATTERN,
    DeployedRequest,
    DeploymentDetail,
    DeploymentState,
    FinishRequest,
    FreezeOverrideRequest,
    GateRequest,
    RollbackRequest,
    TrackRequest,
)
from bounceback.api.deployments import gating, lifecycle, rollback, store
from bounceback.api.errors import Invalid, NotFound
from bounceback.api.pagination import decode_cursor, encode_cursor, parse_limit
from bounceback.api.routes import query
from bounceback.api.routes.body import parse_json
from bounceback.api.routes.params import enum_param, text_param
from bounceback.api.schema import MAX_ID

PREFIX = "/api/auto-recovery/deployment"
_TARGET = re.compile(TARGET_PATTERN)


def _json(model: BaseModel, status: int = 200) -> JSONResponse:
    return JSONResponse(model.model_dump(mode="json"), status_code=status)


def _hub(request: Request) -> Hub:
    hub: Hub = request.app.state.hub
    return hub


def _deployment_id(request: Request) -> int:
    value = request.path_params["id"]
    assert isinstance(value, int)
    if value > MAX_ID:
        raise Invalid(
            f"path parameter 'id' must be a deployment id up to {MAX_ID}",
            [{"field": "id", "message": f"got {value}"}],
        )
    return value


@require(Role.VIEWER)
async def status_route(request: Request) -> Response:
    return _json(await rollback.status(_hub(request).deployments))


async def _page(request: Request, filters: store.Filter) -> Response:
    engine = _hub(request).deployments
    limit = parse_limit(request.query_params.get("limit"))
    before = decode_cursor(request.query_params.get("cursor"))
    async with engine.db.read() as conn:
        rows = await store.page(conn, filters, before_id=before, limit=limit)
        items = [await lifecycle.view(engine, conn, row) for row in rows]
    next_cursor = encode_cursor(rows[-1].id) if len(rows) == limit else None
    return JSONResponse(
        {"items": [item.model_dump(mode="json") for item in items], "next_cursor": next_cursor}
    )


@require(Role.VIEWER)
async def active_route(request: Request) -> Response:
    query.only(request, query.PAGE)
    return await _page(request, store.Filter(active=True))


@require(Role.VIEWER)
async def history_route(request: Request) -> Response:
    query.only(request, query.DEPLOYMENTS)
    filters = store.Filter(
        target=text_param(request, "target"),
        environment=text_param(request, "environment"),
        state=enum_param(request, "state", DeploymentState),
    )
    return await _page(request, filters)


@require_deployer(Role.VIEWER)
async def detail_route(request: Request) -> Response:
    engine = _hub(request).deployments
    deployment_id = _deployment_id(request)
    async with engine.db.read() as conn:
        row = await lifecycle.load(conn, deployment_id)
        visible = oidc_targets(request, _hub(request).oidc_trusts)
        if visible is not None and row.target not in visible:
            # An OIDC caller learns nothing about targets it is not trusted for.
            raise NotFound(f"deployment {deployment_id} does not exist", {"id": deployment_id})
        allow_target(request, row.target)
        detail = DeploymentDetail(
            deployment=await lifecycle.view(engine, conn, row),
            baseline=row.baseline,
            timeline=await store.timeline(conn, row.id),
        )
    return _json(detail)


@require_deployer(Role.OPERATOR)
async def track_route(request: Request) -> Response:
    body = await parse_json(request, TrackRequest)
    caller = allow_target(request, body.target)
    deployment = await lifecycle.track(_hub(request).deployments, body, caller.actor)
    return _json(deployment, 201)


@require_deployer(Role.OPERATOR)
async def gate_route(request: Request) -> Response:
    body = await parse_json(request, GateRequest)
    caller = allow_target(request, body.target)
    return _json(await gating.check(_hub(request).deployments, body, caller.actor))


async def _owned(request: Request) -> int:
    """The path's deployment, once the caller may act for its target."""
    deployment_id = _deployment_id(request)
    engine = _hub(request).deployments
    async with engine.db.read() as conn:
        row = await lifecycle.load(conn, deployment_id)
    allow_target(request, row.target)
    return deployment_id


@require_deployer(Role.OPERATOR)
async def deployed_route(request: Request) -> Response:
    body = await parse_json(request, DeployedRequest, empty_ok=True)
    deployment_id = await _owned(request)
    engine = _hub(request).deployments
    return _json(await lifecycle.deployed(engine, deployment_id, body, principal(request).actor))


@require_deployer(Role.OPERATOR)
async def finish_route(request: Request) -> Response:
    body = await parse_json(request, FinishRequest)
    deployment_id = await _owned(request)
    engine = _hub(request).deployments
    return _json(await lifecycle.finish(engine, deployment_id, body, principal(request).actor))


@require_deployer(Role.OPERATOR)
async def rollback_route(request: Request) -> Response:
    target = request.path_params["target"]
    if not isinstance(target, str) or not _TARGET.fullmatch(target):
        raise Invalid(
            "path parameter 'target' must be a service name",
            [{"field": "target", "message": f"got {target!r}, expected {TARGET_PATTERN}"}],
        )
    body = await parse_json(request, RollbackRequest)
    caller = allow_target(request, target)
    result = await rollback.request(_hub(request).deployments, target, body, caller.actor)
    return _json(result, 201)


@require(Role.ADMIN)
async def enable_route(request: Request) -> Response:
    engine = _hub(request).deployments
    return _json(await rollback.set_auto_rollback(engine, True, principal(request).actor))


@require(Role.ADMIN)
async def disable_route(request: Request) -> Response:
    engine = _hub(request).deployments
    return _json(await rollback.set_auto_rollback(engine, False, principal(request).actor))


@require(Role.OPERATOR)
async def override_route(request: Request) -> Response:
    body = await parse_json(request, FreezeOverrideRequest)
    engine = _hub(request).deployments
    return _json(await gating.override(engine, body, principal(request).actor), 201)


routes = [
    Route(f"{PREFIX}/status", status_route, methods=["GET"]),
    Route(f"{PREFIX}/active", active_route, methods=["GET"]),
    Route(f"{PREFIX}/history", history_route, methods=["GET"]),
    Route(f"{PREFIX}/track", track_route, methods=["POST"]),
    Route(f"{PREFIX}/gate", gate_route, methods=["POST"]),
    Route(f"{PREFIX}/freeze/override", override_route, methods=["POST"]),
    Route(f"{PREFIX}/auto-rollback/enable", enable_route, methods=["POST"]),
    Route(f"{PREFIX}/auto-rollback/disable", disable_route, methods=["POST"]),
    Route(f"{PREFIX}/{{id:int}}", detail_route, methods=["GET"]),
    Route(f"{PREFIX}/{{id:int}}/deployed", deployed_route, methods=["POST"]),
    Route(f"{PREFIX}/{{id:int}}/finish", finish_route, methods=["POST"]),
    Route(f"{PREFIX}/{{target:path}}/rollback", rollback_route, methods=["POST"]),
]
