"""Every route, every role: anonymous callers get 401, too-weak roles 403."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from starlette.routing import Route

from bounceback.api.app import ROUTES
from bounceback.api.auth.roles import Role, satisfies
from bounceback.api.testing import RunningHub

pytestmark = pytest.mark.anyio

PUBLIC_PATHS = {"/healthz", "/readyz", "/openapi.json", "/docs"}
# No credentials: the URL carries a signature (email acknowledge/resolve links).
SIGNED_LINK_PATHS = {"/api/escalation/links/{token}"}
# No credentials: the provider signs each request; unsigned ones are refused with its convention.
SIGNED_WEBHOOKS = {
    "/api/integrations/slack/interactions": 401,
    "/api/integrations/slack/commands": 401,
    "/api/integrations/twilio/sms": 403,
    "/api/integrations/twilio/voice/gather": 403,
}


def api_routes() -> Iterator[tuple[str, str, Route]]:
    for route in ROUTES:
        assert isinstance(route, Route)
        for method in sorted(route.methods or ()):
            if method != "HEAD":
                yield method, route.path, route


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "1", path)


def too_weak(route: Route) -> list[Role]:
    required = getattr(route.endpoint, "required_role", None)
    if required is None:  # intake: an operator token or an integration key
        required = Role.OPERATOR
    # Deployment routes also take guard tokens (and GitHub OIDC tokens, tested on their own).
    also: tuple[Role, ...] = getattr(route.endpoint, "also_allowed", ())
    return [role for role in Role if not satisfies(role, required) and role not in also]


ROUTE_CASES = [
    pytest.param(method, path, route, id=f"{method} {path}") for method, path, route in api_routes()
]


def test_every_route_declares_who_may_call_it() -> None:
    for _, path, route in api_routes():
        markers = [
            hasattr(route.endpoint, name) for name in ("required_role", "intake_kind", "public")
        ]
        assert sum(markers) == 1, f"{path} must be guarded, intake or public"
        if getattr(route.endpoint, "public", False):
            listed = PUBLIC_PATHS | SIGNED_LINK_PATHS | set(SIGNED_WEBHOOKS)
            assert path in listed, f"{path} is public but not listed"


@pytest.mark.parametrize(("method", "path", "route"), ROUTE_CASES)
async def test_anonymous_callers_get_401(
    hub: RunningHub, method: str, path: str, route: Route
) -> None:
    if path in PUBLIC_PATHS:
        response = await hub.client.request(method, path)
        assert response.status_code == 200
        return
    if path in SIGNED_LINK_PATHS:
        response = await hub.client.request(method, concrete(path))
        assert response.status_code == 403, response.text  # an unsigned link does nothing
        return
    if path in SIGNED_WEBHOOKS:
        response = await hub.client.request(method, path, content=b"payload=%7B%7D")
        assert response.status_code == SIGNED_WEBHOOKS[path], response.text
        return
    response = await hub.client.request(method, concrete(path), json={})
    assert response.status_code == 401, response.text
    assert response.json()["error"]["code"] == "unauthorized"
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(("method", "path", "route"), ROUTE_CASES)
async def test_too_weak_roles_get_403(
    hub: RunningHub, method: str, path: str, route: Route
) -> None:
    if path in PUBLIC_PATHS | SIGNED_LINK_PATHS | set(SIGNED_WEBHOOKS):
        return
    for role in too_weak(route):
        response = await hub.client.request(method, concrete(path), json={}, headers=hub.auth(role))
        assert response.status_code == 403, (role, response.text)
        assert response.json()["error"]["code"] == "forbidden"


@pytest.mark.parametrize(("method", "path", "route"), ROUTE_CASES)
async def test_bad_tokens_get_401(hub: RunningHub, method: str, path: str, route: Route) -> None:
    if path in PUBLIC_PATHS | SIGNED_LINK_PATHS | set(SIGNED_WEBHOOKS):
        return
    for header in ("Bearer bbt_not-a-token", "Basic dXNlcjpwYXNz", "Bearer"):
        response = await hub.client.request(
            method, concrete(path), json={}, headers={"Authorization": header}
        )
        assert response.status_code == 401, (header, response.text)


async def test_a_revoked_token_is_refused(hub: RunningHub) -> None:
    assert (await hub.client.get("/api/incidents", headers=hub.auth(Role.ADMIN))).status_code == 200
    assert await hub.hub.credentials.revoke_token("test-admin")
    response = await hub.client.get("/api/incidents", headers=hub.auth(Role.ADMIN))
    assert response.status_code == 401


def test_metrics_needs_a_viewer_token_by_default() -> None:
    [route] = [r for r in ROUTES if isinstance(r, Route) and r.path == "/metrics"]
    assert getattr(route.endpoint, "required_role", None) == Role.VIEWER
