"""Route guards: who may call what. Each guarded endpoint records its requirement for the
authorisation tests and the route table."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response

from bounceback.api.auth.principal import Principal
from bounceback.api.auth.ratelimit import limited
from bounceback.api.auth.roles import Role, satisfies
from bounceback.api.errors import Forbidden, Unauthorized

Endpoint = Callable[[Request], Awaitable[Response]]


def authorization(request: Request) -> str | None:
    """The Authorization header as sent, or None."""
    raw: bytes | None = next(
        (value for key, value in request.scope["headers"] if key == b"authorization"), None
    )
    return raw.decode("latin-1") if raw else None


def bearer(request: Request) -> str | None:
    header = authorization(request)
    if header is None:
        return None
    scheme, _, credential = header.partition(" ")
    if scheme.lower() != "bearer" or not credential.strip():
        raise Unauthorized("the Authorization header must be 'Bearer <token>'")
    return credential.strip()


def principal(request: Request) -> Principal:
    found = request.scope.get("principal")
    assert isinstance(found, Principal), "route is not guarded"
    return found


async def _token_principal(request: Request, secret: str) -> Principal:
    found = await request.app.state.hub.credentials.token(secret)
    if found is None:
        raise Unauthorized("unknown or revoked token")
    assert isinstance(found, Principal)
    return found


def require(role: Role) -> Callable[[Endpoint], Endpoint]:
    """A token with at least ``role``."""

    def decorate(endpoint: Endpoint) -> Endpoint:
        async def authenticate(request: Request) -> Principal:
            secret = bearer(request)
            if secret is None:
                raise Unauthorized("this route needs a token: 'Authorization: Bearer <token>'")
            return await _token_principal(request, secret)

        @functools.wraps(endpoint)
        async def guarded(request: Request) -> Response:
            caller = await limited(request, authorization(request), lambda: authenticate(request))
            assert caller.role is not None
            if not satisfies(caller.role, role):
                raise Forbidden(
                    f"this route needs the {role.value} role; the token has {caller.role.value}",
                    {"required": role.value, "held": caller.role.value},
                )
            request.scope["principal"] = caller
            return await endpoint(request)

        guarded.required_role = role  # type: ignore[attr-defined]
        return guarded

    return decorate


async def intake_principal(
    request: Request, kind: str, routing_key: str | None = None
) -> Principal:
    """An integration key of ``kind`` (as bearer or routing_key), or an operator token."""
    presented = authorization(request) or routing_key
    caller = await limited(request, presented, lambda: _intake_caller(request, routing_key))
    if caller.role is not None:
        if not satisfies(caller.role, Role.OPERATOR):
            raise Forbidden(
                "sending alerts needs an integration key or an operator token",
                {"required": Role.OPERATOR.value, "held": caller.role.value},
            )
        return caller
    if caller.integration_kind != kind:
        raise Forbidden(
            f"this integration key is for {caller.integration_kind} alerts, not {kind}",
            {"required": kind, "held": caller.integration_kind},
        )
    return caller


async def _intake_caller(request: Request, routing_key: str | None) -> Principal:
    secret = bearer(request)
    if secret is not None and secret.startswith("bbt_"):
        return await _token_principal(request, secret)
    key = secret or routing_key
    if key is None:
        raise Unauthorized("this route needs an integration key (Bearer header or routing_key)")
    found = await request.app.state.hub.credentials.integration(key)
    if found is None:
        raise Unauthorized("unknown or revoked integration key")
    assert isinstance(found, Principal)
    return found


def public(endpoint: Endpoint) -> Endpoint:
    """Mark a route that needs no credentials (health probes, signature-checked webhooks)."""
    endpoint.public = True  # type: ignore[attr-defined]
    return endpoint


def intake(kind: str) -> Callable[[Endpoint], Endpoint]:
    """Mark an alert-intake route: an integration key of ``kind`` or an operator token.

    The check itself happens in the handler (PagerDuty senders put the key in the body)."""

    def mark(endpoint: Endpoint) -> Endpoint:
        endpoint.intake_kind = kind  # type: ignore[attr-defined]
        return endpoint

    return mark
