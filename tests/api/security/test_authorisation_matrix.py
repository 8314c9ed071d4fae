"""Every route the hub serves, every role: refused when it should be, let through when it should.

The routes are read from the application itself (the API's and the dashboard's alike), so a
route added later is covered without editing this file, as long as its endpoint says who may
call it: ``require(role)`` / ``require_deployer(role)`` (bearer tokens), ``intake(kind)``
(integration keys), ``public`` (listed below), or the dashboard's ``page(role)`` / ``public_page``
(a cookie session). A route that says nothing fails the first test, which names it.

"Let through" means past authentication and authorisation: any answer but 401, 403 or a
redirect to the sign-in page, and never a 500 (the body is ``{}``, so 404 and 422 are common).
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import httpx
import pytest
from starlette.responses import PlainTextResponse
from starlette.routing import BaseRoute, Mount, Route

from bounceback.api.app import create_app
from bounceback.api.auth.roles import Role, satisfies
from bounceback.api.auth.store import INTEGRATION_KINDS
from bounceback.api.dashboard.session import DASHBOARD_ROLES
from bounceback.api.settings import HubSettings
from bounceback.api.testing import RunningHub
from tests.api.dashboard.signin import csrf_of, signed_in

pytestmark = pytest.mark.anyio

# Public routes, each with what an anonymous caller gets.
PUBLIC = {
    "GET /healthz": 200,
    "GET /readyz": 200,
    "GET /openapi.json": 200,
    "GET /docs": 200,
    # The URL carries a signature (email acknowledge/resolve links): an unsigned one does nothing.
    "GET /api/escalation/links/{token}": 403,
    "POST /api/escalation/links/{token}": 403,
    # The provider signs each request; unsigned ones are refused with its convention.
    "POST /api/integrations/slack/interactions": 401,
    "POST /api/integrations/slack/commands": 401,
    "POST /api/integrations/twilio/sms": 403,
    "POST /api/integrations/twilio/voice/gather": 403,
    # The dashboard's sign-in page, and its form without a token.
    "GET /login": 200,
    "POST /login": 400,
    # The public status page: off unless BOUNCEBACK_STATUS_PAGE, and then no sign-in.
    "GET /status": 404,
    "GET /status.json": 404,
}
# Mounted applications with no routes of their own, served to anyone.
PUBLIC_MOUNTS = {"/static"}
# Path parameters that must name the caller's own object to get past authorisation.
PATH_VALUES = {"agent_id": "test-agent"}


class Kind(StrEnum):
    TOKEN = "bearer token"
    INTAKE = "integration key or operator token"
    PUBLIC = "public"
    SESSION = "dashboard session"
    MOUNT = "public mount"


@dataclass(frozen=True)
class Access:
    kind: Kind
    allowed: frozenset[Role] = frozenset()  # token roles (TOKEN, INTAKE) or session roles
    integration: str | None = None


@dataclass(frozen=True)
class Served:
    method: str
    path: str
    route: BaseRoute

    @property
    def name(self) -> str:
        return f"{self.method} {self.path}"


def _walk(routes: Iterable[BaseRoute], prefix: str = "") -> Iterator[Served]:
    for route in routes:
        if isinstance(route, Route):
            for method in sorted(route.methods or ()):
                if method != "HEAD":
                    yield Served(method, prefix + route.path, route)
        elif isinstance(route, Mount) and route.routes:
            yield from _walk(route.routes, prefix + route.path)
        else:
            yield Served("*", prefix + str(getattr(route, "path", route)), route)


def served_routes() -> list[Served]:
    """What the hub's application serves (built, never started: nothing opens the store)."""
    data_dir = Path(tempfile.gettempdir()) / "bounceback-route-walk"
    app = create_app(HubSettings(bounceback_data_dir=data_dir))
    return list(_walk(app.routes))


class Unclassified(Exception):
    pass


def access(served: Served) -> Access:
    route = served.route
    if isinstance(route, Mount):
        if served.path in PUBLIC_MOUNTS:
            return Access(Kind.MOUNT)
        raise Unclassified(f"{served.path} is mounted but not listed in PUBLIC_MOUNTS")
    if not isinstance(route, Route):
        raise Unclassified(
            f"{served.path} is a {type(route).__name__}, which this matrix can't test"
        )
    endpoint = route.endpoint
    markers = [
        name
        for name in ("required_role", "intake_kind", "public", "dashboard_role", "dashboard_public")
        if getattr(endpoint, name, None)
    ]
    if len(markers) != 1:
        raise Unclassified(
            f"{served.name} declares {markers or 'nothing'} about who may call it: guard it "
            "with require(role) or require_deployer(role) (bearer tokens), intake(kind), the "
            "dashboard's page(role), or mark it public / public_page and list it in PUBLIC in "
            "tests/api/security/test_authorisation_matrix.py"
        )
    marker = markers[0]
    if marker in ("public", "dashboard_public"):
        if served.name not in PUBLIC:
            raise Unclassified(f"{served.name} is public but not listed in PUBLIC")
        return Access(Kind.PUBLIC)
    if marker == "dashboard_role":
        needed: Role = endpoint.dashboard_role  # type: ignore[attr-defined]
        return Access(Kind.SESSION, frozenset(r for r in DASHBOARD_ROLES if satisfies(r, needed)))
    if marker == "intake_kind":
        kind: str = endpoint.intake_kind  # type: ignore[attr-defined]
        passing = frozenset(r for r in Role if satisfies(r, Role.OPERATOR))
        return Access(Kind.INTAKE, passing, integration=kind)
    required: Role = endpoint.required_role  # type: ignore[attr-defined]
    also: tuple[Role, ...] = getattr(endpoint, "also_allowed", ())
    return Access(Kind.TOKEN, frozenset(r for r in Role if satisfies(r, required) or r in also))


SERVED = served_routes()


def classified() -> Iterator[tuple[Served, Access]]:
    for served in SERVED:
        try:
            yield served, access(served)
        except Unclassified:
            continue  # test_every_route_declares_who_may_call_it names it


def cases(*kinds: Kind) -> list[object]:
    return [
        pytest.param(served, found, id=served.name)
        for served, found in classified()
        if found.kind in kinds
    ]


def concrete(path: str) -> str:
    def value(match: re.Match[str]) -> str:
        return PATH_VALUES.get(match.group(1), "1")

    return re.sub(r"\{([^}:]+)(?::[^}]+)?\}", value, path)


async def call(
    client: httpx.AsyncClient, served: Served, headers: dict[str, str] | None = None
) -> httpx.Response:
    """The route called with ``{}``; a streaming answer (server-sent events) is not read."""
    method = "POST" if served.method == "*" else served.method
    body: dict[str, object] | None = {} if method in ("POST", "PUT", "PATCH") else None
    request = client.build_request(method, concrete(served.path), json=body, headers=headers)
    response = await client.send(request, stream=True)
    try:
        if not response.headers.get("content-type", "").startswith("text/event-stream"):
            await response.aread()
    finally:
        await response.aclose()
    return response


def assert_let_through(response: httpx.Response, who: str) -> None:
    assert response.status_code not in (401, 403, 429), (who, response.status_code, response.text)
    assert not response.headers.get("location", "").startswith("/login?next="), who
    assert response.status_code < 500, (who, response.text)


def assert_session_refused(response: httpx.Response, served: Served) -> None:
    """No session: a page sends the browser to sign in; a form post is refused."""
    if served.method == "GET":
        assert response.status_code == 303, response.text
        assert response.headers["location"].startswith("/login?next=")
    else:
        assert response.status_code == 401, response.text


def test_every_route_declares_who_may_call_it() -> None:
    problems = []
    for served in SERVED:
        try:
            access(served)
        except Unclassified as exc:
            problems.append(str(exc))
    assert not problems, "\n".join(problems)


async def _unmarked(request: object) -> None:
    raise AssertionError("never called")


def test_a_route_that_says_nothing_is_named_with_what_to_do() -> None:
    with pytest.raises(Unclassified, match=r"^POST /api/new declares nothing .* require\(role\)"):
        access(Served("POST", "/api/new", Route("/api/new", _unmarked, methods=["POST"])))
    with pytest.raises(Unclassified, match="not listed in PUBLIC_MOUNTS"):
        access(Served("*", "/assets", Mount("/assets", app=PlainTextResponse("x"))))


def test_the_matrix_sees_the_api_and_the_dashboard() -> None:
    names = {served.name for served in SERVED}
    assert {"GET /api/incidents", "POST /api/alerts", "GET /", "GET /login"} <= names
    assert {found.kind for _, found in classified()} == set(Kind)


async def anonymous_callers_are_refused(hub: RunningHub, served: Served, found: Access) -> None:
    response = await call(hub.client, served)
    if found.kind is Kind.PUBLIC:
        assert response.status_code == PUBLIC[served.name], response.text
    elif found.kind is Kind.SESSION:
        assert_session_refused(response, served)
    else:
        assert response.status_code == 401, response.text
        assert response.json()["error"]["code"] == "unauthorized"
        assert response.headers["www-authenticate"] == "Bearer"


async def each_token_role_is_refused_or_let_through(
    hub: RunningHub, served: Served, found: Access
) -> None:
    for role in Role:
        response = await call(hub.client, served, hub.auth(role))
        if role in found.allowed:
            assert_let_through(response, role.value)
        else:
            assert response.status_code == 403, (role, response.text)
            assert response.json()["error"]["code"] == "forbidden"


async def integration_keys_pass_only_their_own_route(
    hub: RunningHub, served: Served, found: Access
) -> None:
    for kind in INTEGRATION_KINDS:
        response = await call(hub.client, served, hub.key(kind))
        if kind == found.integration:
            assert_let_through(response, kind)
        else:
            assert response.status_code == 403, (kind, response.text)


async def bad_credentials_get_401(hub: RunningHub, served: Served) -> None:
    for header in ("Bearer bbt_not-a-token", "Basic dXNlcjpwYXNz", "Bearer"):
        response = await call(hub.client, served, {"Authorization": header})
        assert response.status_code == 401, (header, response.text)


@asynccontextmanager
async def session(hub: RunningHub, role: Role) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    async with signed_in(hub, role) as client:
        yield client, await csrf_of(client)


async def each_dashboard_role_is_refused_or_let_through(
    hub: RunningHub, served: Served, found: Access
) -> None:
    for role in Role:
        # A bearer token opens no dashboard session, whatever its role.
        assert_session_refused(await call(hub.client, served, hub.auth(role)), served)
    for role in DASHBOARD_ROLES:
        async with session(hub, role) as (client, csrf):
            if served.method == "GET":
                response = await call(client, served)
            else:
                response = await client.request(
                    served.method, concrete(served.path), data={"csrf": csrf}
                )
            if role in found.allowed:
                assert_let_through(response, role.value)
            else:
                assert response.status_code == 403, (role, response.text)


@pytest.mark.parametrize(("served", "found"), cases(*Kind))
async def test_each_caller_is_refused_or_let_through_as_the_route_declares(
    hub: RunningHub, served: Served, found: Access
) -> None:
    """Anonymous callers; then each token role, each integration key and bad credentials
    (bearer routes), or each dashboard session role (pages). One hub per route."""
    if found.kind is Kind.MOUNT:
        return
    await anonymous_callers_are_refused(hub, served, found)
    if found.kind in (Kind.TOKEN, Kind.INTAKE):
        await each_token_role_is_refused_or_let_through(hub, served, found)
        await bad_credentials_get_401(hub, served)
    if found.kind is Kind.INTAKE:
        await integration_keys_pass_only_their_own_route(hub, served, found)
    if found.kind is Kind.SESSION:
        await each_dashboard_role_is_refused_or_let_through(hub, served, found)


async def test_an_agent_token_acts_only_for_its_own_agent(hub: RunningHub) -> None:
    response = await hub.client.get(
        "/api/agents/another-host/commands", headers=hub.auth(Role.AGENT)
    )
    assert response.status_code == 403
    assert response.json()["error"]["details"]["token_agent"] == "test-agent"


async def test_a_revoked_token_is_refused(hub: RunningHub) -> None:
    assert (await hub.client.get("/api/incidents", headers=hub.auth(Role.ADMIN))).status_code == 200
    assert await hub.hub.credentials.revoke_token("test-admin")
    response = await hub.client.get("/api/incidents", headers=hub.auth(Role.ADMIN))
    assert response.status_code == 401


def test_metrics_needs_a_viewer_token_by_default() -> None:
    [found] = [access(s) for s in SERVED if s.name == "GET /metrics"]
    assert found == Access(Kind.TOKEN, frozenset({Role.VIEWER, Role.OPERATOR, Role.ADMIN}))
