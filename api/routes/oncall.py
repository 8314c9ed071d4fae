"""On call: who is on call now, a schedule's final shifts, and the people, teams and schedules."""

from __future__ import annotations

from datetime import timedelta

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bounceback.api.auth.guard import require
from bounceback.api.auth.roles import Role
from bounceback.api.context import Hub
from bounceback.api.errors import Invalid, NotFound
from bounceback.api.escalation.directory import Kind
from bounceback.api.oncall.rotation import Shift, on_call, shifts
from bounceback.api.routes import query
from bounceback.api.routes.objects import crud_routes
from bounceback.api.routes.params import time_param

MAX_WINDOW = timedelta(days=366)


def _shift(shift: Shift) -> dict[str, str]:
    return {
        "person": shift.person,
        "start": shift.start.isoformat(),
        "end": shift.end.isoformat(),
        "source": shift.source,
    }


@require(Role.VIEWER)
async def now_route(request: Request) -> Response:
    hub: Hub = request.app.state.hub
    async with hub.db.read() as conn:
        directory = await hub.directories.load(conn)
    now = hub.clock.now()
    items = []
    for schedule in sorted(directory.schedules.values(), key=lambda s: s.id):
        shift = on_call(schedule, now)
        person = directory.people.get(shift.person) if shift else None
        items.append(
            {
                "schedule": schedule.id,
                "name": schedule.name,
                "on_call": _shift(shift) if shift else None,
                "person": person.model_dump(mode="json") if person else None,
            }
        )
    return JSONResponse({"at": now.isoformat(), "items": items})


@require(Role.VIEWER)
async def shifts_route(request: Request) -> Response:
    query.only(request, query.SHIFTS)
    hub: Hub = request.app.state.hub
    ident = request.path_params["sid"]
    async with hub.db.read() as conn:
        directory = await hub.directories.load(conn)
    schedule = directory.schedules.get(ident)
    if schedule is None:
        raise NotFound(f"no schedule {ident!r}")
    start = time_param(request, "from") or hub.clock.now()
    end = time_param(request, "to") or start + timedelta(days=7)
    if end <= start:
        raise Invalid(
            "query parameter 'to' must be after 'from'",
            [{"field": "to", "message": "must be after 'from'"}],
        )
    if end - start > MAX_WINDOW:
        raise Invalid(
            "the window from 'from' to 'to' is at most 366 days",
            [{"field": "to", "message": "at most 366 days after 'from'"}],
        )
    return JSONResponse(
        {
            "schedule": schedule.id,
            "timezone": schedule.timezone,
            "from": start.isoformat(),
            "to": end.isoformat(),
            "shifts": [_shift(shift) for shift in shifts(schedule, start, end)],
        }
    )


routes = [
    Route("/api/oncall/now", now_route, methods=["GET"]),
    Route("/api/oncall/schedules/{sid}/shifts", shifts_route, methods=["GET"]),
    *crud_routes("/api/oncall/people", Kind.PERSON),
    *crud_routes("/api/oncall/teams", Kind.TEAM),
    *crud_routes("/api/oncall/schedules", Kind.SCHEDULE),
]
