"""The audit log page (admin): who did what to what, with which outcome, filtered and paged
newest first, from the same records as ``GET /api/auto-recovery/audit``."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from markupsafe import Markup, escape
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bounceback.api.audit import AuditFilter, list_records
from bounceback.api.auth.roles import Role
from bounceback.api.context import Hub
from bounceback.api.dashboard.paging import read_paging
from bounceback.api.dashboard.timefmt import when
from bounceback.api.dashboard.web import page, render
from bounceback.api.routes.params import printable

LIMIT = 50
FILTERS = ("actor", "action", "target", "outcome")
MAX_TEXT = 300
MAX_DETAILS = 400
OUTCOMES = ("ok", "created", "refused", "not_found", "failed")


def read_filters(query: Mapping[str, str]) -> tuple[AuditFilter, dict[str, str]]:
    values = {name: printable(query.get(name), MAX_TEXT) for name in FILTERS}
    found = AuditFilter(
        actor=values["actor"] or None,
        action=values["action"] or None,
        target=values["target"] or None,
        outcome=values["outcome"] or None,
    )
    return found, values


def target_link(target: str) -> str | None:
    """Where a target has a dashboard page of its own."""
    kind, _, key = target.partition(":")
    if kind == "incident" and key.isdigit():
        return f"/incidents/{key}"
    return None


def breakable(text: str) -> Markup:
    """``token:<wbr>alice``, ``escalation.<wbr>acknowledge``: narrow columns wrap at the
    separators instead of mid-word."""
    parts = re.split(r"(?<=[.:])", text)
    return Markup("<wbr>").join(escape(part) for part in parts)


def details_text(details: Mapping[str, Any]) -> str:
    if not details:
        return ""
    text = json.dumps(details, sort_keys=True, default=str, ensure_ascii=False)
    return text if len(text) <= MAX_DETAILS else text[: MAX_DETAILS - 1] + "…"


def row(record: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": record["id"],
        "at": when(record["at"]).partition(" ")[::2],  # (date, time): wraps between the two
        "actor": breakable(record["actor"]),
        "action": breakable(record["action"]),
        "target": record["target"],
        "link": target_link(record["target"]),
        "outcome": record["outcome"],
        "details": details_text(record["details"] or {}),
        "request_id": record["request_id"],
    }


@page(Role.ADMIN)
async def audit_page(request: Request) -> Response:
    hub: Hub = request.app.state.hub
    filters, values = read_filters(request.query_params)
    paging = read_paging(
        request.query_params, LIMIT, "That page link is not one this hub made: showing the newest."
    )
    problems = paging.problems
    async with hub.db.read() as conn:
        records = await list_records(conn, filters, before_id=paging.before, limit=paging.limit)
    last = records[-1]["id"] if records else None
    older, newest = paging.links("/audit", values, last, len(records))
    context: dict[str, Any] = {
        "rows": [row(record) for record in records],
        "filters": values,
        "filtered": any(values.values()),
        "outcomes": OUTCOMES,
        "older": older,
        "newest": newest,
    }
    if problems:
        context["problem"] = " ".join(problems)
    return await render(request, "audit.html", context, live="audit")


routes = [Route("/audit", audit_page, methods=["GET"])]
