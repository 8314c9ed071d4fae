"""The seed's Circuit Breaker Management section: the agents' breakers, one per host and
dependency, read here and changed by commands to the agents that own them."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bounceback.api.agent_wire import AGENT_ID_PATTERN, BreakerState, CommandKind
from bounceback.api.agents import breakers, commands, store, summaries
from bounceback.api.agents.breakers import CircuitId
from bounceback.api.auth.guard import principal, require
from bounceback.api.auth.roles import Role
from bounceback.api.context import Hub
from bounceback.api.errors import Invalid, NotFound
from bounceback.api.routes import query
from bounceback.api.routes.agents import host_query
from bounceback.api.routes.body import parse_json
from bounceback.api.routes.params import enum_param, text_param

PREFIX = "/api/auto-recovery/circuit-breaker"


class ReasonBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: Annotated[str, Field(max_length=500)] | None = None


class ResetAllBody(BaseModel):
    """No host: every circuit of the fleet that is not closed; a host: that agent's."""

    model_config = ConfigDict(extra="forbid")
    host: Annotated[str, Field(pattern=AGENT_ID_PATTERN)] | None = None


def circuit_param(request: Request) -> CircuitId:
    raw = request.path_params["id"]
    circuit = breakers.parse_circuit_id(raw)
    if circuit is None:
        raise Invalid(
            "path parameter 'id' must be a circuit id '<agent id>:<dependency>'",
            [{"field": "id", "message": f"got {raw!r}, expected e.g. web-1:postgres"}],
        )
    return circuit


@require(Role.VIEWER)
async def status_route(request: Request) -> Response:
    hub: Hub = request.app.state.hub
    async with hub.db.read() as conn:
        body = await summaries.circuit_breaker_status(conn, hub.settings)
    return JSONResponse(body)


@require(Role.VIEWER)
async def circuits_route(request: Request) -> Response:
    query.only(request, query.CIRCUITS)
    hub: Hub = request.app.state.hub
    state = enum_param(request, "state", BreakerState)
    host = host_query(request)
    kind = text_param(request, "kind")
    async with hub.db.read() as conn:
        items = await breakers.list_circuits(conn, state=state, host=host, kind=kind)
    return JSONResponse({"items": items})


@require(Role.VIEWER)
async def circuit_route(request: Request) -> Response:
    hub: Hub = request.app.state.hub
    circuit = circuit_param(request)
    async with hub.db.read() as conn:
        found = await breakers.get_circuit(conn, circuit)
        if found is not None:
            found["transitions"] = await store.breaker_transitions(
                conn, circuit.agent_id, circuit.dependency
            )
            recent = await commands.recent(
                conn, agent_id=circuit.agent_id, target=circuit.dependency
            )
            found["commands"] = [c for c in recent if c["kind"].endswith("_breaker")]
    if found is None:
        raise NotFound(f"circuit {circuit} does not exist")
    return JSONResponse(found)


async def _command(request: Request, kind: CommandKind) -> Response:
    hub: Hub = request.app.state.hub
    circuit = circuit_param(request)
    body = await parse_json(request, ReasonBody, empty_ok=True)
    command = await hub.fleet.breaker_command(
        circuit, kind, reason=body.reason, actor=principal(request).actor
    )
    return JSONResponse({"circuit": str(circuit), "command": command}, status_code=202)


@require(Role.OPERATOR)
async def reset_route(request: Request) -> Response:
    return await _command(request, CommandKind.RESET_BREAKER)


@require(Role.OPERATOR)
async def force_open_route(request: Request) -> Response:
    return await _command(request, CommandKind.FORCE_OPEN_BREAKER)


@require(Role.OPERATOR)
async def reset_all_route(request: Request) -> Response:
    hub: Hub = request.app.state.hub
    body = await parse_json(request, ResetAllBody, empty_ok=True)
    issued = await hub.fleet.reset_all(host=body.host, actor=principal(request).actor)
    return JSONResponse(
        {
            "circuits": [f"{command['host']}:{command['target']}" for command in issued],
            "commands": issued,
        },
        status_code=202,
    )


routes = [
    Route(f"{PREFIX}/status", status_route, methods=["GET"]),
    Route(f"{PREFIX}/circuits", circuits_route, methods=["GET"]),
    Route(f"{PREFIX}/circuits/reset-all", reset_all_route, methods=["POST"]),
    Route(f"{PREFIX}/circuits/{{id}}", circuit_route, methods=["GET"]),
    Route(f"{PREFIX}/circuits/{{id}}/reset", reset_route, methods=["POST"]),
    Route(f"{PREFIX}/circuits/{{id}}/force-open", force_open_route, methods=["POST"]),
]
