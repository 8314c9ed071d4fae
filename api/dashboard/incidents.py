"""The incidents pages: the filtered list, one incident with its whole timeline, and the
operator's actions on it (acknowledge, resolve, escalate now), through the same action
functions as the API so the timeline and the audit log read the same either way."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bounceback.api.auth.roles import Role
from bounceback.api.context import Hub
from bounceback.api.dashboard import incident_timeline as story
from bounceback.api.dashboard.paging import read_paging
from bounceback.api.dashboard.timefmt import when
from bounceback.api.dashboard.web import actor, back, form_of, message, page, render, session_of
from bounceback.api.errors import ApiError
from bounceback.api.escalation import store as escalation_store
from bounceback.api.escalation.escalate_now import escalate_now, next_level
from bounceback.api.incidents import public_notes
from bounceback.api.incidents.public_notes import PublicNoteBody, PublicStatus
from bounceback.api.incidents.queries import IncidentFilter, get_incident, list_incidents
from bounceback.api.routes.params import printable
from bounceback.api.schema import Incident, IncidentState, Severity

LIMIT = 50
VIA = "dashboard"
MAX_NOTE = 4000
MAX_TEXT = 255
FILTERS = ("state", "severity", "service", "source")


def read_filters(query: Mapping[str, str]) -> tuple[IncidentFilter, dict[str, str], list[str]]:
    """The list's filters, the values to show back in the form, and what was not understood
    (said on the page as a problem line, never a 400 for a person typing in a form)."""
    values = {name: printable(query.get(name), MAX_TEXT) for name in FILTERS}
    problems = []
    state: IncidentState | None = None
    severity: Severity | None = None
    if values["state"]:
        if values["state"] in IncidentState.__members__.values():
            state = IncidentState(values["state"])
        else:
            problems.append(f"unknown state {values['state']!r}: not filtered by state")
            values["state"] = ""
    if values["severity"]:
        if values["severity"] in Severity.__members__.values():
            severity = Severity(values["severity"])
        else:
            problems.append(f"unknown severity {values['severity']!r}: not filtered by severity")
            values["severity"] = ""
    found = IncidentFilter(
        state=state,
        severity=severity,
        service=values["service"] or None,
        source=values["source"] or None,
    )
    return found, values, problems


def row(incident: Incident) -> dict[str, Any]:
    return {
        "id": incident.id,
        "severity": incident.severity.value,
        "state": incident.state.value,
        "summary": incident.summary,
        "service": incident.service or "—",
        "source": incident.source,
        "opened": when(incident.created_at),
        "acknowledged_by": incident.acknowledged_by or "—",
    }


@page(Role.VIEWER)
async def list_page(request: Request) -> Response:
    hub: Hub = request.app.state.hub
    filters, values, problems = read_filters(request.query_params)
    paging = read_paging(
        request.query_params, LIMIT, "that page link is not one this hub made: showing the newest"
    )
    problems += paging.problems
    async with hub.db.read() as conn:
        items = await list_incidents(conn, filters, before_id=paging.before, limit=paging.limit)
    older, newest = paging.links("/incidents", values, items[-1].id if items else None, len(items))
    context: dict[str, Any] = {
        "rows": [row(item) for item in items],
        "filters": values,
        "filtered": any(values.values()),
        "states": [s.value for s in IncidentState],
        "severities": [s.value for s in Severity],
        "older": older,
        "newest": newest,
    }
    if problems:
        context["problem"] = "; ".join(problems)
    return await render(request, "incidents.html", context, live="incidents")


def incident_id_of(request: Request) -> int | None:
    raw = str(request.path_params["id"])
    return int(raw) if raw.isdigit() and len(raw) <= 18 else None


def _not_found(request: Request, raw: object) -> Response:
    return message(
        request,
        404,
        "No such incident",
        f"There is no incident {str(raw)[:40]!r}; the incidents list has every one.",
        session_of(request),
    )


@page(Role.VIEWER)
async def detail_page(request: Request) -> Response:
    hub: Hub = request.app.state.hub
    incident_id = incident_id_of(request)
    if incident_id is None:
        return _not_found(request, request.path_params["id"])
    async with hub.db.read() as conn:
        incident = await get_incident(conn, incident_id)
        if incident is None:
            return _not_found(request, incident_id)
        view = await escalation_store.incident(conn, incident_id, lock=False)
        escalation = await escalation_store.get(conn, incident_id, lock=False)
        pages = await story.pages_of(conn, incident_id)
        attempts = await story.attempts_of(conn, incident_id)
    assert view is not None
    upcoming = next_level(view, escalation, hub.clock.now())
    state = incident.state
    return await render(
        request,
        "incident.html",
        {
            "incident": incident,
            "opened": when(incident.created_at),
            "last_alert": when(incident.last_alert_at),
            "acknowledged": when(incident.acknowledged_at),
            "resolved": when(incident.resolved_at),
            "silenced": when(incident.silenced_until) if incident.silenced_until else None,
            "escalation": _escalation(escalation),
            "can_acknowledge": state == IncidentState.TRIGGERED,
            "can_resolve": state != IncidentState.RESOLVED,
            "escalate_to": None if isinstance(upcoming, str) else upcoming.name,
            "public_statuses": [status.value for status in PublicStatus],
            "status_page": hub.settings.bounceback_status_page,
            "entries": [
                {**entry.__dict__, "when": when(entry.at)}
                for entry in story.merged(incident.timeline, pages, attempts)
            ],
            "pages": [{**p.__dict__, "when": when(p.at), "sent": when(p.sent_at)} for p in pages],
            "attempts": [
                {**a.__dict__, "started": when(a.started_at), "finished": when(a.finished_at)}
                for a in attempts
            ],
        },
        live="incidents recovery",
    )


def _escalation(found: escalation_store.EscalationRow | None) -> dict[str, Any] | None:
    if found is None:
        return None
    levels = found.snapshot.levels
    return {
        "policy": found.snapshot.policy_name,
        "status": found.status.value,
        "level": levels[found.level].name if found.level is not None else "—",
        "next_at": when(found.next_step_at) if found.next_step_at else "—",
        "levels": ", ".join(level.name for level in levels),
    }


async def _act(request: Request, done: str, verb: str) -> Response:
    """Run ``verb`` on the incident; back to its page saying what happened or why not."""
    hub: Hub = request.app.state.hub
    incident_id = incident_id_of(request)
    if incident_id is None:
        return back("/incidents", problem="There is no such incident.")
    path = f"/incidents/{incident_id}"
    who = actor(request)
    try:
        if verb == "acknowledge":
            await hub.escalation.acknowledge(incident_id, who, via=VIA)
        elif verb == "resolve":
            note = form_of(request).get("note", "").strip()
            if len(note) > MAX_NOTE:
                return back(path, problem=f"The note is longer than {MAX_NOTE} characters.")
            await hub.escalation.resolve(incident_id, who, via=VIA, note=note or None)
        elif verb == "public_note":
            form = form_of(request)
            try:
                body = PublicNoteBody.model_validate(
                    {
                        "message": form.get("message", ""),
                        "status": form.get("status") or PublicStatus.INVESTIGATING.value,
                        "title": form.get("title", "").strip() or None,
                    }
                )
            except ValidationError as exc:
                field = ".".join(str(p) for p in exc.errors()[0]["loc"])
                return back(path, problem=f"Public note not published: check its {field}.")
            await public_notes.add(hub.db, hub.clock, incident_id, who, body)
        else:
            level = await escalate_now(
                hub.db, hub.clock, incident_id, who, via=VIA, wake=hub.scheduler.wake
            )
            done = f"{level} is being paged now"
    except ApiError as exc:
        if exc.status == 404:
            return back("/incidents", problem=f"Incident {incident_id} does not exist.")
        return back(path, problem=f"Not done: {exc.message}.")
    return back(path, notice=f"Incident {incident_id} {done}.")


@page(Role.OPERATOR)
async def acknowledge(request: Request) -> Response:
    return await _act(request, "acknowledged", "acknowledge")


@page(Role.OPERATOR)
async def resolve(request: Request) -> Response:
    return await _act(request, "resolved", "resolve")


@page(Role.OPERATOR)
async def escalate(request: Request) -> Response:
    return await _act(request, "escalated", "escalate")


@page(Role.OPERATOR)
async def public_note(request: Request) -> Response:
    return await _act(request, "has a new public note on the status page", "public_note")


routes = [
    Route("/incidents", list_page, methods=["GET"]),
    Route("/incidents/{id}", detail_page, methods=["GET"]),
    Route("/incidents/{id}/acknowledge", acknowledge, methods=["POST"]),
    Route("/incidents/{id}/resolve", resolve, methods=["POST"]),
    Route("/incidents/{id}/escalate", escalate, methods=["POST"]),
    Route("/incidents/{id}/public-note", public_note, methods=["POST"]),
]
