"""The public status page: ``/status`` (HTML) and ``/status.json`` (Statuspage's summary shape).

Off unless ``BOUNCEBACK_STATUS_PAGE`` is true (404, as for a path the hub does not serve). No
sign-in, no script, its own template outside the dashboard's frame, and nothing from the store
but component names from the configuration, computed statuses and operators' public notes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bounceback.api.context import Hub
from bounceback.api.dashboard import status_model as model
from bounceback.api.dashboard.web import public_page, templates, with_headers
from bounceback.api.degradation import store as degradation_store
from bounceback.api.degradation.evaluate import RuleState
from bounceback.api.incidents import public_notes
from bounceback.api.schema import IncidentState, Severity
from bounceback.api.store.tables import incidents

# A status page is polled by many; a few seconds' staleness is fine and spares the store.
CACHE = "public, max-age=15"


@dataclass(frozen=True)
class StatusView:
    now: datetime
    status: model.ComponentStatus
    components: list[model.Component]
    incidents: list[model.ShownIncident]


def component_names(hub: Hub) -> list[str]:
    """The services the configuration names: deployment targets and degradation services."""
    degradation = hub.settings.degradation
    names = set(hub.settings.deployments.targets) | set(degradation.services)
    names |= {rule.service for rule in degradation.rules if rule.service is not None}
    return sorted(names)


async def gather(hub: Hub) -> StatusView:
    names = component_names(hub)
    engine = hub.degradation
    async with hub.db.read() as conn:
        shot = await engine.snapshot(conn)
        states = await degradation_store.states(conn)
        rows = await conn.execute(
            sa.select(incidents.c.service, incidents.c.severity)
            .distinct()
            .where(
                incidents.c.state != IncidentState.RESOLVED.value,
                incidents.c.service.in_(names),
            )
        )
        open_incidents = [(service, Severity(severity)) for service, severity in rows]
        noted = await public_notes.open_with_notes(conn)
    active = [
        model.ActiveRule(rule.service, rule.level)
        for rule in engine.config.rules
        if shot.enabled and states.get(rule.id, RuleState()).active
    ]
    components = model.component_health(names, open_incidents, active)
    return StatusView(
        now=hub.clock.now(),
        status=model.overall(components, shot.level),
        components=components,
        incidents=[model.shown(incident, names) for incident in noted],
    )


def _enabled(request: Request) -> Hub:
    hub: Hub = request.app.state.hub
    if not hub.settings.bounceback_status_page:
        raise HTTPException(404)
    return hub


@public_page
async def status_html(request: Request) -> Response:
    view = await gather(_enabled(request))
    indicator, description = model.INDICATOR[view.status]
    response = templates.TemplateResponse(
        request,
        "status.html",
        {
            "view": view,
            "indicator": indicator,
            "description": description,
            "labels": model.LABELS,
        },
    )
    response.headers["Cache-Control"] = CACHE
    return with_headers(response)


@public_page
async def status_json(request: Request) -> Response:
    hub = _enabled(request)
    view = await gather(hub)
    # The configured public address, else the one the caller used (never the listen address).
    url = str(request.url_for("status_html"))
    if hub.settings.bounceback_public_url:
        url = f"{hub.settings.public_url}/status"
    document = model.summary(
        url=url,
        now=view.now,
        components=view.components,
        status=view.status,
        incidents=view.incidents,
    )
    # Aggregators and embedded widgets read it from other origins; it holds nothing private.
    headers = {"Cache-Control": CACHE, "Access-Control-Allow-Origin": "*"}
    return with_headers(JSONResponse(document, headers=headers))


routes = [
    Route("/status", status_html, methods=["GET"], name="status_html"),
    Route("/status.json", status_json, methods=["GET"]),
]
