"""The overview page: every subsystem's status and counts (the same figures as the API's)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bounceback.api.auth.roles import Role
from bounceback.api.context import Hub
from bounceback.api.dashboard.web import page, render
from bounceback.api.routes.overview import overview as overview_figures


def tiles(subsystems: dict[str, Any]) -> list[dict[str, Any]]:
    """One tile per subsystem: its name, status, and its scalar figures (nested ones flattened
    one level, e.g. ``by_state.open``)."""
    out = []
    for name, body in subsystems.items():
        if not isinstance(body, dict):
            continue
        figures: list[tuple[str, Any]] = []
        for key, value in body.items():
            if key == "status":
                continue
            if isinstance(value, dict):
                figures.extend(
                    (f"{key}.{inner}", item)
                    for inner, item in value.items()
                    if isinstance(item, int | float | str | bool)
                )
            elif isinstance(value, list):
                figures.append((key, ", ".join(str(item) for item in value) or "—"))
            else:
                figures.append((key, value))
        status = str(body.get("status", "running"))
        out.append(
            {
                "name": name.replace("_", " "),
                "status": status,
                "ok": status in ("running", "normal", "closed", "ok"),
                "figures": figures[:14],
            }
        )
    return out


@page(Role.VIEWER)
async def overview_page(request: Request) -> Response:
    hub: Hub = request.app.state.hub
    figures = await overview_figures(hub)
    return await render(
        request,
        "overview.html",
        {"hub_info": figures["hub"], "tiles": tiles(figures["subsystems"])},
        live="incidents recovery deployments degradation agents",
    )


routes = [Route("/", overview_page, methods=["GET"])]
