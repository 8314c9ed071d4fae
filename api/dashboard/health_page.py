"""The System Health page (the seed's System Health Dashboard): hosts, their recent CPU, memory
and disk as sparklines, silent agents, and the breaker grid (host by dependency) with resets.

Host status is ``agents.health.host`` (as ``GET .../self-healing/health`` says it); the grid is
``agents.breakers.list_circuits`` (as ``GET .../circuit-breaker/circuits``); a reset is
``hub.fleet.breaker_command``, the function behind ``POST .../circuits/{id}/reset``, so the
command and the audit record are the same whichever was used.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bounceback.api.agent_wire import CommandKind
from bounceback.api.agents import breakers, health, silence, store, summaries
from bounceback.api.agents.store import AgentRow
from bounceback.api.auth.roles import Role
from bounceback.api.context import Hub
from bounceback.api.dashboard import charts, host_samples
from bounceback.api.dashboard.timefmt import span, when
from bounceback.api.dashboard.web import actor, back, form_of, page, render
from bounceback.api.errors import ApiError

LABELS = {"cpu_percent": "CPU", "memory_percent": "Memory", "disk_percent": "Disk"}


def host_row(
    agent: AgentRow,
    series: host_samples.Series | None,
    limits: health.Thresholds,
    now: datetime,
) -> dict[str, Any]:
    """A host's line: status, a sparkline and latest value per metric, when it last reported."""
    shown = health.host(agent, limits)
    late = agent.silent_since is None and now >= silence.deadline(
        agent.last_seen, agent.interval_seconds
    )
    metrics = []
    for name in host_samples.SHOWN:
        values = series.values[name] if series else []
        latest = shown[name] if shown[name] is not None else (values[-1] if values else None)
        limit = limits.for_metric(name)
        metrics.append(
            {
                "name": name,
                "label": LABELS[name],
                "spark": charts.sparkline(values),
                "points": values,
                "latest": None if latest is None else round(float(latest), 1),
                "high": latest is not None and limit is not None and latest >= limit,
            }
        )
    return {
        "id": agent.id,
        "hostname": agent.hostname,
        "status": shown["status"],
        "late": late,
        "silent_since": when(agent.silent_since) if agent.silent_since else None,
        "last_seen": when(agent.last_seen),
        "ago": span((now - agent.last_seen).total_seconds()),
        "failing_checks": shown["failing_checks"],
        "metrics": metrics,
        "samples": len(series.values["cpu_percent"]) if series else 0,
    }


def grid(circuits: list[dict[str, Any]]) -> dict[str, Any]:
    """Rows: hosts with breakers; columns: every dependency any of them has."""
    dependencies = sorted({c["dependency"] for c in circuits})
    rows: dict[str, dict[str, Any]] = {}
    for c in circuits:
        row = rows.setdefault(
            c["host"], {"host": c["host"], "silent": c["host_silent"], "cells": {}}
        )
        row["cells"][c["dependency"]] = c
    return {
        "dependencies": dependencies,
        "rows": [rows[h] for h in sorted(rows)],
        "not_closed": sum(c["state"] != "closed" for c in circuits),
    }


def spreads(metrics: dict[str, dict[str, float | None]]) -> list[tuple[str, str]]:
    """The fleet's mean and highest reading per metric, e.g. ("CPU", "54.7 / 83.0 %")."""

    def shown(value: float | None) -> str:
        return "—" if value is None else f"{value:.1f}"

    return [
        (LABELS[name], f"{shown(metrics[name]['avg'])} / {shown(metrics[name]['max'])} %")
        for name in host_samples.SHOWN
    ]


@page(Role.VIEWER)
async def health_page(request: Request) -> Response:
    hub: Hub = request.app.state.hub
    now = hub.clock.now()
    limits = summaries.thresholds(hub.settings)
    async with hub.db.read() as conn:
        agents = await store.list_all(conn)
        samples = await host_samples.recent(conn)
        circuits = await breakers.list_circuits(conn)
    hosts = [host_row(a, samples.get(a.id), limits, now) for a in agents]
    fleet = health.fleet([health.host(a, limits) for a in agents])
    return await render(
        request,
        "health.html",
        {
            "title": "System health",
            "fleet": fleet,
            "spreads": spreads(fleet["metrics"]),
            "hosts": hosts,
            "silent": [h for h in hosts if h["status"] == "silent" or h["late"]],
            "grid": grid(circuits),
            "limits": limits,
            "per_host": host_samples.PER_HOST,
        },
        live="agents breakers",
    )


@page(Role.OPERATOR)
async def reset_circuit(request: Request) -> Response:
    raw = request.path_params["id"]
    circuit = breakers.parse_circuit_id(raw)
    if circuit is None:
        return back("/health", problem=f"{raw!r} is not a circuit id (<agent id>:<dependency>).")
    reason = form_of(request).get("reason", "").strip()[:500] or None
    hub: Hub = request.app.state.hub
    try:
        command = await hub.fleet.breaker_command(
            circuit, CommandKind.RESET_BREAKER, reason=reason, actor=actor(request)
        )
    except ApiError as exc:
        return back("/health", problem=exc.message)
    return back(
        "/health",
        notice=f"Reset of {circuit} sent to {circuit.agent_id} (command #{command['id']}).",
    )


@page(Role.OPERATOR)
async def reset_all(request: Request) -> Response:
    hub: Hub = request.app.state.hub
    try:
        issued = await hub.fleet.reset_all(host=None, actor=actor(request))
    except ApiError as exc:
        return back("/health", problem=exc.message)
    if not issued:
        return back("/health", notice="Every circuit is closed; nothing to reset.")
    return back("/health", notice=f"Reset sent for {len(issued)} circuit(s).")


routes = [
    Route("/health", health_page, methods=["GET"]),
    Route("/health/circuits/reset-all", reset_all, methods=["POST"]),
    Route("/health/circuits/{id}/reset", reset_circuit, methods=["POST"]),
]
