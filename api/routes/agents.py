"""The agent protocol (reports up, commands down) and the fleet's agents for people to read."""

from __future__ import annotations

import math
import re

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bounceback.api.agent_wire import AGENT_ID_PATTERN, AgentReport
from bounceback.api.agents import commands, store, validate
from bounceback.api.agents.delivery import MAX_WAIT_SECONDS
from bounceback.api.auth.guard import principal, require
from bounceback.api.auth.roles import Role
from bounceback.api.context import Hub
from bounceback.api.errors import Forbidden, Invalid, NotFound
from bounceback.api.routes import query
from bounceback.api.routes.body import parse_json

_AGENT_ID = re.compile(AGENT_ID_PATTERN)


def checked_agent_id(raw: object, name: str, where: str = "path") -> str:
    if not isinstance(raw, str) or not _AGENT_ID.fullmatch(raw):
        raise Invalid(
            f"{where} parameter '{name}' is not an agent id",
            [{"field": name, "message": f"got {raw!r}, expected {AGENT_ID_PATTERN}"}],
        )
    return raw


def agent_param(request: Request, name: str = "agent_id") -> str:
    return checked_agent_id(request.path_params[name], name)


def host_query(request: Request) -> str | None:
    """The optional ``?host=<agent id>`` filter."""
    raw = request.query_params.get("host")
    return checked_agent_id(raw, "host", "query") if raw else None


def own_agent_id(request: Request) -> str:
    """The agent id in the path, which an agent token may only name when it is its own."""
    caller = principal(request)
    raw = request.path_params["agent_id"]
    if caller.role == Role.AGENT and caller.name != raw:
        raise Forbidden(
            f"this agent token is for agent {caller.name!r}, not {raw!r}",
            {"token_agent": caller.name, "agent_id": raw},
        )
    return agent_param(request)


def wait_param(request: Request) -> float:
    raw = request.query_params.get("wait")
    if raw is None:
        return 0.0
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not 0 <= value <= MAX_WAIT_SECONDS:
        raise Invalid(
            f"query parameter 'wait' must be a number of seconds from 0 to {MAX_WAIT_SECONDS:g}",
            [{"field": "wait", "message": f"got {raw!r}, expected 0..{MAX_WAIT_SECONDS:g}"}],
        )
    return value


@require(Role.AGENT)
async def post_report(request: Request) -> Response:
    hub: Hub = request.app.state.hub
    agent_id = own_agent_id(request)
    report = await parse_json(request, AgentReport)
    found = validate.problems(report)
    if found:
        raise Invalid(f"invalid field '{found[0]['field']}': {found[0]['message']}", found)
    ack = await hub.agent_reports.ingest(agent_id, report, actor=principal(request).actor)
    return JSONResponse(ack.model_dump(mode="json"))


@require(Role.AGENT)
async def get_commands(request: Request) -> Response:
    query.only(request, query.COMMANDS)
    hub: Hub = request.app.state.hub
    agent_id = own_agent_id(request)
    found = await hub.agent_commands.poll(
        agent_id,
        wait_param(request),
        actor=principal(request).actor,
        gone=request.is_disconnected,
    )
    return JSONResponse({"commands": [command.model_dump(mode="json") for command in found]})


@require(Role.VIEWER)
async def list_agents(request: Request) -> Response:
    hub: Hub = request.app.state.hub
    async with hub.db.read() as conn:
        rows = await store.list_all(conn)
    return JSONResponse({"items": [store.view(agent) for agent in rows]})


@require(Role.VIEWER)
async def agent_detail(request: Request) -> Response:
    hub: Hub = request.app.state.hub
    agent_id = agent_param(request)
    async with hub.db.read() as conn:
        agent = await store.get(conn, agent_id)
        recent = await commands.recent(conn, agent_id=agent_id) if agent else []
    if agent is None:
        raise NotFound(f"no agent {agent_id!r} has reported to this hub")
    return JSONResponse({**store.view(agent), "commands": recent})


routes = [
    Route("/api/agents", list_agents, methods=["GET"]),
    Route("/api/agents/{agent_id}", agent_detail, methods=["GET"]),
    Route("/api/agents/{agent_id}/reports", post_report, methods=["POST"]),
    Route("/api/agents/{agent_id}/commands", get_commands, methods=["GET"]),
]
