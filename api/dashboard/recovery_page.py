"""The Recovery page (the seed's Recovery Dashboard and Performance Impact) and its forms.

Every figure comes from the functions behind ``/api/auto-recovery/...``: the status and the
window's statistics from ``recovery.operations``, the attempts from ``recovery.store``, the
agents' self-healing from ``agents.healing``. The forms call the same operations the API routes
call (``switch``, ``test``), so the audit log reads the same whichever was used.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import sqlalchemy as sa
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bounceback.api.agents import healing
from bounceback.api.auth.roles import Role
from bounceback.api.context import Hub
from bounceback.api.dashboard import impact, recovery_trends, recovery_view
from bounceback.api.dashboard.timefmt import span
from bounceback.api.dashboard.web import actor, back, form_of, message, page, render
from bounceback.api.errors import ApiError
from bounceback.api.pagination import decode_cursor, encode_cursor
from bounceback.api.recovery import operations, store
from bounceback.api.recovery.decide import State
from bounceback.api.recovery.stats import Episode
from bounceback.api.routes.params import printable
from bounceback.api.store.tables import agent_commands

PAGE_SIZE = 25
ACTIVE_SHOWN = 100
FILTERS = ("action", "state", "trigger", "target")


def _hub(request: Request) -> Hub:
    hub: Hub = request.app.state.hub
    return hub


def _query(**values: str | None) -> str:
    kept = {k: v for k, v in values.items() if v}
    return "?" + urlencode(kept) if kept else ""


async def _command_states(conn: Any, ids: list[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = await conn.execute(
        sa.select(agent_commands.c.id, agent_commands.c.state).where(agent_commands.c.id.in_(ids))
    )
    return {row.id: row.state for row in rows}


@page(Role.VIEWER)
async def recovery_page(request: Request) -> Response:
    hub = _hub(request)
    engine = hub.recovery
    q = request.query_params
    window_name = q.get("window") or recovery_trends.DEFAULT_WINDOW
    window = recovery_trends.WINDOWS.get(window_name)
    if window is None:
        choices = ", ".join(recovery_trends.WINDOWS)
        return message(request, 400, "Bad window", f"window must be one of {choices}.")
    try:
        before_id = decode_cursor(q.get("cursor"))
    except ApiError as exc:
        return message(request, 400, "Bad cursor", exc.message)
    picked = {name: printable(q.get(name), 255) for name in FILTERS}
    filters = store.HistoryFilter(
        action_id=picked["action"] or None,
        target=picked["target"] or None,
        state=picked["state"] or None,
        trigger=picked["trigger"] or None,
    )
    now = hub.clock.now()
    status = await operations.status(engine)
    stats = await operations.window_stats(engine, window.span)
    known = await operations.actions(engine)
    since = recovery_trends.first_start(now, window)
    async with hub.db.read() as conn:
        ends = await store.episode_ends(conn, since)
        open_rows = await store.page(
            conn, store.HistoryFilter(), before_id=None, limit=ACTIVE_SHOWN, open_only=True
        )
        agent_active = await healing.active(conn)
        history = await store.page(conn, filters, before_id=before_id, limit=PAGE_SIZE)
        states = await _command_states(conn, recovery_view.command_ids(open_rows))
        pairs = await impact.pairs_since(conn, now - window.span)
    episodes = [
        Episode(r.action_id, r.state, r.episode_started_at, r.finished_at, r.try_number)
        for r in ends
        if r.finished_at is not None
    ]
    by_state = status["by_state"]
    names = {a.id: a.name for a in known.values()}
    here = {"window": window_name, **picked}
    older = (
        _query(**here, cursor=encode_cursor(history[-1].id)) if len(history) == PAGE_SIZE else None
    )
    return await render(
        request,
        "recovery.html",
        {
            "title": "Recovery",
            "status": status,
            "running": sum(by_state.get(s.value, 0) for s in (State.RUNNING, State.VERIFYING)),
            "pending": by_state.get(State.PENDING.value, 0),
            "stats": stats,
            "success_rate": recovery_view.percent(stats["success_rate"]),
            "mttr": {k: span(v) for k, v in stats["mttr_seconds"].items()},
            "per_action": {
                a: {
                    "rate": recovery_view.percent(f["success_rate"]),
                    "episodes": f["episodes"],
                    "mttr": span(f["mttr_seconds"]["mean"]),
                }
                for a, f in stats["per_action"].items()
            },
            "windows": list(recovery_trends.WINDOWS),
            "window": window_name,
            "charts": recovery_view.trend_charts(
                recovery_trends.buckets(episodes, now, window), window_name
            ),
            "actions": recovery_view.action_rows(known, engine.catalog.provisioned),
            "active": recovery_view.active_rows(open_rows, agent_active, states, now),
            "history": recovery_view.history_rows(history),
            "filters": picked,
            "states": [s.value for s in State],
            "older": "/recovery" + older if older else None,
            "newest": "/recovery" + _query(**here) if before_id is not None else None,
            "impact": recovery_view.impact_cards(impact.summarize(pairs), names),
        },
        live="recovery",
    )


async def _switch(request: Request, enabled: bool) -> Response:
    hub = _hub(request)
    await operations.switch(hub.recovery, enabled, actor(request))
    return back("/recovery", notice=f"Auto-recovery {'enabled' if enabled else 'disabled'}.")


@page(Role.ADMIN)
async def enable_action(request: Request) -> Response:
    return await _switch(request, True)


@page(Role.ADMIN)
async def disable_action(request: Request) -> Response:
    return await _switch(request, False)


def _test_fields(request: Request) -> tuple[str, str | None, str | None]:
    form = form_of(request)
    action_id = form.get("action", "").strip()
    target = form.get("target", "").strip()[:255] or None
    host = form.get("host", "").strip()[:255] or None
    return action_id, target, host


async def _test(request: Request, *, execute: bool) -> dict[str, Any]:
    """The recovery engine's test, as ``POST /api/auto-recovery/test/{id}`` runs it."""
    action_id, target, host = _test_fields(request)
    return await operations.test(
        _hub(request).recovery,
        action_id,
        target=target,
        host=host,
        incident_id=None,
        execute=execute,
        actor=actor(request),
    )


@page(Role.OPERATOR)
async def test_action(request: Request) -> Response:
    """A dry run: the steps as they would run on the target, and the safety checks' answer."""
    try:
        result = await _test(request, execute=False)
    except ApiError as exc:
        return back("/recovery", problem=exc.message)
    return await render(
        request, "recovery_test.html", {"title": "Recovery dry run", "result": result}
    )


@page(Role.OPERATOR)
async def run_action(request: Request) -> Response:
    """Run the action on a target now (as ``POST /api/auto-recovery/test/{id}?execute=true``)."""
    action_id, target, _ = _test_fields(request)
    if target is None:
        return back("/recovery", problem="Give the host (or target) to run the action on.")
    try:
        result = await _test(request, execute=True)
    except ApiError as exc:
        return back("/recovery", problem=exc.message)
    return back(
        "/recovery",
        notice=f"Started attempt #{result['attempt_id']} of {action_id} on {target}.",
    )


routes = [
    Route("/recovery", recovery_page, methods=["GET"]),
    Route("/recovery/enable", enable_action, methods=["POST"]),
    Route("/recovery/disable", disable_action, methods=["POST"]),
    Route("/recovery/test", test_action, methods=["POST"]),
    Route("/recovery/run", run_action, methods=["POST"]),
]
