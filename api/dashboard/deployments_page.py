"""The Deployments pages: the list (filters, paging, the auto-rollback switch) and one
deployment (baseline vs after-deploy charts, the verdict's table, the timeline, rollback).

Actions call the same functions as the API routes (``deployments/rollback.py``), so the audit
log and the deployment's timeline read the same whichever way an operator acted.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bounceback.api.auth.roles import Role
from bounceback.api.context import Hub
from bounceback.api.dashboard import deployment_view as view
from bounceback.api.dashboard.web import actor, back, form_of, message, page, render, session_of
from bounceback.api.deployment_wire import (
    Deployment,
    DeploymentKind,
    DeploymentState,
    RollbackRequest,
)
from bounceback.api.deployments import lifecycle, rollback, store
from bounceback.api.errors import ApiError
from bounceback.api.pagination import decode_cursor, encode_cursor
from bounceback.api.routes.params import printable

PAGE_SIZE = 50
MAX_ID = 2**31 - 1  # the store's ids are 32-bit: a larger one names nothing
LIVE = "deployments"
# A rollback of these makes no sense: it is already being, or has been, undone.
NOT_ROLLED_BACK_AGAIN = frozenset({DeploymentState.ROLLING_BACK, DeploymentState.ROLLED_BACK})


def when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else "—"


def _hub(request: Request) -> Hub:
    hub: Hub = request.app.state.hub
    return hub


def _filters(request: Request) -> tuple[store.Filter, int | None]:
    """The list's query string; raises ApiError naming a bad parameter."""
    params = request.query_params
    raw_state = params.get("state") or None
    state = None
    if raw_state is not None:
        try:
            state = DeploymentState(raw_state)
        except ValueError:
            allowed = ", ".join(s.value for s in DeploymentState)
            raise ApiError(f"state must be one of: {allowed}") from None
    target = printable(params.get("target"), 128) or None
    return store.Filter(target=target, state=state), decode_cursor(params.get("cursor"))


@page(Role.VIEWER)
async def list_page(request: Request) -> Response:
    engine = _hub(request).deployments
    try:
        filters, before = _filters(request)
    except ApiError as exc:
        return message(request, 400, "Bad filter", exc.message, session_of(request))
    async with engine.db.read() as conn:
        rows = await store.page(conn, filters, before_id=before, limit=PAGE_SIZE)
        items = [await lifecycle.view(engine, conn, row) for row in rows]
    status = await rollback.status(engine)
    query = {"target": filters.target or "", "state": filters.state.value if filters.state else ""}
    older = None
    if len(rows) == PAGE_SIZE:
        older = "?" + urlencode({**query, "cursor": encode_cursor(rows[-1].id)})
    return await render(
        request,
        "deployments.html",
        {
            "title": "Deployments",
            "items": [_listed(item) for item in items],
            "status": status,
            "query": query,
            "states": [s.value for s in DeploymentState],
            "older": older,
            "paged": before is not None,
        },
        live=LIVE,
    )


def _listed(item: Deployment) -> dict[str, Any]:
    return {
        "d": item,
        "verdict": item.verdict.outcome.value if item.verdict else "—",
        "started": when(item.created_at),
    }


def _deployment_id(request: Request) -> int:
    value = request.path_params["id"]
    assert isinstance(value, int)
    return value if value <= MAX_ID else 0  # 0: no deployment has it


@page(Role.VIEWER)
async def detail_page(request: Request) -> Response:
    engine = _hub(request).deployments
    deployment_id = _deployment_id(request)
    async with engine.db.read() as conn:
        row = await store.get(conn, deployment_id)
        if row is None:
            text = f"Deployment {deployment_id} does not exist."
            return message(request, 404, "Not found", text, session_of(request))
        deployment = await lifecycle.view(engine, conn, row)
        timeline = await store.timeline(conn, row.id)
        found = await view.readings(conn, engine, row)
    run_url = deployment.run_url or ""
    return await render(
        request,
        "deployment.html",
        {
            "title": f"Deployment {deployment.id}",
            "d": deployment,
            "when": when,
            "run_url": run_url if run_url.startswith(("https://", "http://")) else "",
            "verdict_rows": view.verdict_rows(deployment.verdict),
            "charts": view.charts(found, row.deployed_at),
            "timeline": timeline,
            "can_roll_back": deployment.kind is DeploymentKind.DEPLOY
            and deployment.state not in NOT_ROLLED_BACK_AGAIN,
        },
        live=LIVE,
    )


@page(Role.OPERATOR)
async def rollback_action(request: Request) -> Response:
    engine = _hub(request).deployments
    deployment_id = _deployment_id(request)
    here = f"/deployments/{deployment_id}"
    form = form_of(request)
    async with engine.db.read() as conn:
        row = await store.get(conn, deployment_id)
    if row is None:
        return back("/deployments", problem=f"Deployment {deployment_id} does not exist.")
    try:
        body = RollbackRequest(
            reason=form.get("reason", "").strip(),
            deployment_id=deployment_id,
            environment=row.environment,
            to_version=form.get("to_version", "").strip() or None,
        )
    except ValidationError as exc:
        field = ".".join(str(part) for part in exc.errors()[0]["loc"])
        return back(here, problem=f"{field}: {exc.errors()[0]['msg']}")
    try:
        done = await rollback.request(engine, row.target, body, actor(request))
    except ApiError as exc:
        return back(here, problem=exc.message)
    return back(here, notice=f"Rollback to {done.version} requested: deployment {done.id}.")


async def _switch(request: Request, enabled: bool) -> Response:
    engine = _hub(request).deployments
    await rollback.set_auto_rollback(engine, enabled, actor(request))
    return back("/deployments", notice=f"Auto-rollback {'enabled' if enabled else 'disabled'}.")


@page(Role.ADMIN)
async def enable_action(request: Request) -> Response:
    return await _switch(request, True)


@page(Role.ADMIN)
async def disable_action(request: Request) -> Response:
    return await _switch(request, False)


routes = [
    Route("/deployments", list_page, methods=["GET"]),
    Route("/deployments/auto-rollback/enable", enable_action, methods=["POST"]),
    Route("/deployments/auto-rollback/disable", disable_action, methods=["POST"]),
    Route("/deployments/{id:int}", detail_page, methods=["GET"]),
    Route("/deployments/{id:int}/rollback", rollback_action, methods=["POST"]),
]
