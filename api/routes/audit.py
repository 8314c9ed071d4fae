"""``GET /api/auto-recovery/audit``: the audit log, filtered, newest first (admin)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bounceback.api.audit import AuditFilter, list_records
from bounceback.api.auth.guard import require
from bounceback.api.auth.roles import Role
from bounceback.api.context import Hub
from bounceback.api.pagination import decode_cursor, encode_cursor, parse_limit
from bounceback.api.routes import query
from bounceback.api.routes.params import text_param, time_param


@require(Role.ADMIN)
async def audit_route(request: Request) -> Response:
    query.only(request, query.AUDIT)
    hub: Hub = request.app.state.hub
    params = request.query_params
    filters = AuditFilter(
        actor=text_param(request, "actor"),
        action=text_param(request, "action"),
        target=text_param(request, "target"),
        outcome=text_param(request, "outcome"),
        since=time_param(request, "since"),
        until=time_param(request, "until"),
    )
    limit = parse_limit(params.get("limit"))
    async with hub.db.read() as conn:
        rows = await list_records(
            conn, filters, before_id=decode_cursor(params.get("cursor")), limit=limit
        )
    items = [{**row, "at": row["at"].isoformat()} for row in rows]
    next_cursor = encode_cursor(rows[-1]["id"]) if len(rows) == limit else None
    return JSONResponse({"items": items, "next_cursor": next_cursor})


routes = [Route("/api/auto-recovery/audit", audit_route, methods=["GET"])]
