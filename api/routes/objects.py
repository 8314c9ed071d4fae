"""CRUD routes for the escalation directory (people, teams, schedules, policies): reading needs
a viewer, changing an admin. Objects from hub.toml are listed with ``"provisioned": true``."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bounceback.api.auth.guard import principal, require
from bounceback.api.auth.roles import Role
from bounceback.api.context import Hub
from bounceback.api.errors import Invalid, NotFound
from bounceback.api.escalation.directory import MODELS, Directory, Kind
from bounceback.api.escalation.objects import ObjectStore
from bounceback.api.routes.body import parse_json


def _store(request: Request) -> ObjectStore:
    hub: Hub = request.app.state.hub
    return ObjectStore(hub.db, hub.clock, hub.directories)


def _shown(directory: Directory, kind: Kind, model: BaseModel) -> dict[str, Any]:
    ident = str(getattr(model, "id"))  # noqa: B009 - every object model has an id
    return {**model.model_dump(mode="json"), "provisioned": (kind, ident) in directory.provisioned}


def crud_routes(base: str, kind: Kind) -> list[Route]:
    model = MODELS[kind]

    @require(Role.VIEWER)
    async def list_route(request: Request) -> Response:
        directory = await _store(request).directory()
        items = sorted(directory.of(kind).values(), key=lambda item: item.id)
        return JSONResponse({"items": [_shown(directory, kind, item) for item in items]})

    @require(Role.VIEWER)
    async def get_route(request: Request) -> Response:
        ident = request.path_params["oid"]
        directory = await _store(request).directory()
        found = directory.of(kind).get(ident)
        if found is None:
            raise NotFound(f"no {kind.value} {ident!r}")
        return JSONResponse(_shown(directory, kind, found))

    @require(Role.ADMIN)
    async def create_route(request: Request) -> Response:
        item = await parse_json(request, model)
        store = _store(request)
        await store.put(kind, item, principal(request).actor, create=True)
        return JSONResponse(_shown(await store.directory(), kind, item), status_code=201)

    @require(Role.ADMIN)
    async def update_route(request: Request) -> Response:
        item = await parse_json(request, model)
        ident = request.path_params["oid"]
        if getattr(item, "id") != ident:  # noqa: B009 - every object model has an id
            raise Invalid(
                f"invalid field 'id': the body's id must be {ident!r}, as in the path",
                [{"field": "id", "message": f"expected {ident!r}"}],
            )
        store = _store(request)
        await store.put(kind, item, principal(request).actor, create=False)
        return JSONResponse(_shown(await store.directory(), kind, item))

    @require(Role.ADMIN)
    async def delete_route(request: Request) -> Response:
        await _store(request).delete(kind, request.path_params["oid"], principal(request).actor)
        return Response(status_code=204)

    return [
        Route(base, list_route, methods=["GET"]),
        Route(base, create_route, methods=["POST"]),
        Route(f"{base}/{{oid}}", get_route, methods=["GET"]),
        Route(f"{base}/{{oid}}", update_route, methods=["PUT"]),
        Route(f"{base}/{{oid}}", delete_route, methods=["DELETE"]),
    ]
