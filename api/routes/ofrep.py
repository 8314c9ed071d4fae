"""The OpenFeature Remote Evaluation Protocol (OFREP) over the degradation flags: any OpenFeature
SDK with an OFREP provider reads them. Flags are the same for every caller (the evaluation
context is accepted and not used), so the bulk answer carries an ETag and ``If-None-Match``
answers 304 while nothing changed. Callers need a token with at least the viewer role."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bounceback.api.auth.guard import require
from bounceback.api.auth.roles import Role
from bounceback.api.context import Hub
from bounceback.api.degradation.flags import Snapshot, etag_matches

PREFIX = "/ofrep/v1/evaluate/flags"


async def _context_error(request: Request) -> str | None:
    """Why the request body is not an OFREP evaluation request, or None."""
    raw = await request.body()
    if not raw.strip():
        return None
    try:
        body: Any = json.loads(raw)
    except (ValueError, RecursionError):  # RecursionError: nested deeper than Python recurses
        return 'the body must be JSON: {"context": {...}}'
    if not isinstance(body, dict):
        return 'the body must be a JSON object: {"context": {...}}'
    context = body.get("context")
    if context is not None and not isinstance(context, dict):
        return "'context' must be an object"
    return None


async def _snapshot(request: Request) -> Snapshot:
    hub: Hub = request.app.state.hub
    async with hub.db.read() as conn:
        return await hub.degradation.snapshot(conn)


@require(Role.VIEWER)
async def bulk_route(request: Request) -> Response:
    problem = await _context_error(request)
    if problem is not None:
        return JSONResponse({"errorCode": "INVALID_CONTEXT", "errorDetails": problem}, 400)
    shot = await _snapshot(request)
    headers = {"ETag": shot.etag, "Cache-Control": "no-cache"}
    if etag_matches(request.headers.get("if-none-match"), shot.etag):
        return Response(status_code=304, headers=headers)
    flags = [shot.flags[key].wire() for key in sorted(shot.flags)]
    return JSONResponse({"flags": flags, "metadata": {"level": shot.level.value}}, headers=headers)


@require(Role.VIEWER)
async def single_route(request: Request) -> Response:
    key = request.path_params["key"]
    problem = await _context_error(request)
    if problem is not None:
        return JSONResponse(
            {"key": key, "errorCode": "INVALID_CONTEXT", "errorDetails": problem}, 400
        )
    flag = (await _snapshot(request)).flags.get(key)
    if flag is None:
        return JSONResponse(
            {
                "key": key,
                "errorCode": "FLAG_NOT_FOUND",
                "errorDetails": f"flag {key!r} does not exist; see POST {PREFIX} for every flag",
            },
            404,
        )
    return JSONResponse(flag.wire())


routes = [
    Route(PREFIX, bulk_route, methods=["POST"]),
    Route(f"{PREFIX}/{{key}}", single_route, methods=["POST"]),
]
