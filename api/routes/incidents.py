"""Incidents: list, detail with timeline, acknowledge, resolve, silence."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bounceback.api.auth.guard import principal, require
from bounceback.api.auth.roles import Role
from bounceback.api.context import Hub
from bounceback.api.errors import NotFound
from bounceback.api.escalation.escalate_now import escalate_now
from bounceback.api.escalation.queries import escalation_detail
from bounceback.api.incidents import public_notes
from bounceback.api.incidents.public_notes import PublicNoteBody
from bounceback.api.incidents.queries import IncidentFilter, get_incident, list_incidents
from bounceback.api.pagination import decode_cursor, encode_cursor, parse_limit
from bounceback.api.routes import query
from bounceback.api.routes.body import parse_json
from bounceback.api.routes.params import enum_param, id_param, text_param
from bounceback.api.schema import IncidentState, Severity


class ResolveBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: Annotated[str, Field(max_length=4000)] | None = None


class SilenceBody(BaseModel):
    """Either ``until`` (an ISO time) or ``duration`` (seconds, at most 30 days)."""

    model_config = ConfigDict(extra="forbid")
    until: datetime | None = None
    duration: Annotated[float, Field(gt=0, le=30 * 86400)] | None = None

    @model_validator(mode="after")
    def _one_of(self) -> SilenceBody:
        if (self.until is None) == (self.duration is None):
            raise ValueError("give exactly one of 'until' or 'duration'")
        if self.until is not None and self.until.tzinfo is None:
            raise ValueError("'until' needs a timezone, e.g. 2026-01-31T12:00:00Z")
        return self


@require(Role.VIEWER)
async def list_route(request: Request) -> Response:
    query.only(request, query.INCIDENTS)
    hub: Hub = request.app.state.hub
    filters = IncidentFilter(
        state=enum_param(request, "state", IncidentState),
        severity=enum_param(request, "severity", Severity),
        service=text_param(request, "service"),
        source=text_param(request, "source"),
        integration=text_param(request, "integration"),
    )
    limit = parse_limit(request.query_params.get("limit"))
    before = decode_cursor(request.query_params.get("cursor"))
    async with hub.db.read() as conn:
        items = await list_incidents(conn, filters, before_id=before, limit=limit)
    next_cursor = encode_cursor(items[-1].id) if len(items) == limit else None
    return JSONResponse(
        {"items": [item.model_dump(mode="json") for item in items], "next_cursor": next_cursor}
    )


@require(Role.VIEWER)
async def detail_route(request: Request) -> Response:
    hub: Hub = request.app.state.hub
    incident_id = id_param(request)
    async with hub.db.read() as conn:
        incident = await get_incident(conn, incident_id)
    if incident is None:
        raise NotFound(f"incident {incident_id} does not exist")
    return JSONResponse(incident.model_dump(mode="json"))


async def _detail(hub: Hub, incident_id: int) -> Response:
    async with hub.db.read() as conn:
        incident = await get_incident(conn, incident_id)
    assert incident is not None
    return JSONResponse(incident.model_dump(mode="json"))


@require(Role.OPERATOR)
async def acknowledge_route(request: Request) -> Response:
    hub: Hub = request.app.state.hub
    incident_id = id_param(request)
    await hub.incidents.acknowledge(incident_id, principal(request).actor)
    return await _detail(hub, incident_id)


@require(Role.OPERATOR)
async def resolve_route(request: Request) -> Response:
    hub: Hub = request.app.state.hub
    incident_id = id_param(request)
    body = await parse_json(request, ResolveBody, empty_ok=True)
    await hub.incidents.resolve(incident_id, principal(request).actor, body.note)
    return await _detail(hub, incident_id)


@require(Role.OPERATOR)
async def silence_route(request: Request) -> Response:
    hub: Hub = request.app.state.hub
    incident_id = id_param(request)
    body = await parse_json(request, SilenceBody)
    until = body.until or hub.clock.now() + timedelta(seconds=body.duration or 0)
    await hub.incidents.silence(incident_id, principal(request).actor, until)
    return await _detail(hub, incident_id)


@require(Role.OPERATOR)
async def public_note_route(request: Request) -> Response:
    """A note for the public status page (docs/dashboard.md); on the timeline and audited."""
    hub: Hub = request.app.state.hub
    incident_id = id_param(request)
    body = await parse_json(request, PublicNoteBody)
    await public_notes.add(hub.db, hub.clock, incident_id, principal(request).actor, body)
    return await _detail(hub, incident_id)


@require(Role.OPERATOR)
async def escalate_route(request: Request) -> Response:
    """Page the next escalation level now (the escalation worker sends it: 202)."""
    hub: Hub = request.app.state.hub
    incident_id = id_param(request)
    await escalate_now(
        hub.db,
        hub.clock,
        incident_id,
        principal(request).actor,
        via="api",
        wake=hub.scheduler.wake,
    )
    async with hub.db.read() as conn:
        found = await escalation_detail(conn, incident_id)
    return JSONResponse(found, status_code=202)


routes = [
    Route("/api/incidents", list_route, methods=["GET"]),
    Route("/api/incidents/{id}", detail_route, methods=["GET"]),
    Route("/api/incidents/{id}/acknowledge", acknowledge_route, methods=["POST"]),
    Route("/api/incidents/{id}/resolve", resolve_route, methods=["POST"]),
    Route("/api/incidents/{id}/silence", silence_route, methods=["POST"]),
    Route("/api/incidents/{id}/escalate", escalate_route, methods=["POST"]),
    Route("/api/incidents/{id}/public-note", public_note_route, methods=["POST"]),
]
