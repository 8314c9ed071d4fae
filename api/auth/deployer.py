"""Who may act on deployments: a hub token (a role, or ``guard``), or a GitHub Actions OIDC token.

A bearer credential shaped like an RS256 JWT goes to the OIDC verifier (signature, issuer,
audience = the hub's public URL, lifetime: 401 when any fails); anything else is a hub token.
An OIDC caller is a guard for the targets whose trusts (hub.toml
``[deployments.targets.<name>.trusts]``) its repository_id / environment / ref satisfy, and for
nothing else: the handler names the target with :func:`allow_target` (403 otherwise).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import datetime

from starlette.requests import Request
from starlette.responses import Response

from bounceback.api.auth.guard import (
    Endpoint,
    _token_principal,
    authorization,
    bearer,
    principal,
)
from bounceback.api.auth.oidc import (
    GitHubClaims,
    GitHubOidcVerifier,
    OidcTrust,
    authorize,
    looks_like_jwt,
)
from bounceback.api.auth.principal import Principal
from bounceback.api.auth.ratelimit import limited
from bounceback.api.auth.roles import Role, satisfies
from bounceback.api.deployments.config import DeploymentsConfig
from bounceback.api.errors import Forbidden, Unauthorized

_CLAIMS = "oidc_claims"


def trusts(config: DeploymentsConfig) -> tuple[OidcTrust, ...]:
    return tuple(
        OidcTrust(
            target=name,
            repository_id=trust.repository_id,
            repository=trust.repository,
            environments=trust.environments,
            refs=trust.refs,
        )
        for name, target in config.targets.items()
        for trust in target.trusts
    )


def verifier(
    config: DeploymentsConfig, public_url: str, now: Callable[[], datetime]
) -> GitHubOidcVerifier | None:
    """The hub's verifier, or None when no target trusts any repository."""
    if not config.has_trusts:
        return None
    return GitHubOidcVerifier(
        config.oidc.audience or public_url,
        issuer=config.oidc.issuer,
        jwks_url=config.oidc.jwks_url,
        clock=now,
    )


def require_deployer(role: Role) -> Callable[[Endpoint], Endpoint]:
    """A token with at least ``role``, a guard token, or a verified GitHub OIDC token."""

    def decorate(endpoint: Endpoint) -> Endpoint:
        @functools.wraps(endpoint)
        async def guarded(request: Request) -> Response:
            caller = await limited(request, authorization(request), lambda: _caller(request))
            if not caller.oidc:
                assert caller.role is not None
                if not (satisfies(caller.role, role) or caller.role == Role.GUARD):
                    raise Forbidden(
                        f"this route needs the {role.value} or guard role; the token has "
                        f"{caller.role.value}",
                        {"required": [role.value, Role.GUARD.value], "held": caller.role.value},
                    )
            request.scope["principal"] = caller
            return await endpoint(request)

        guarded.required_role = role  # type: ignore[attr-defined]
        guarded.also_allowed = (Role.GUARD,)  # type: ignore[attr-defined]
        return guarded

    return decorate


async def _caller(request: Request) -> Principal:
    secret = bearer(request)
    if secret is None:
        raise Unauthorized(
            "this route needs a token: 'Authorization: Bearer <hub token or GitHub "
            "Actions ID token>'"
        )
    if not looks_like_jwt(secret):
        return await _token_principal(request, secret)
    hub = request.app.state.hub
    if hub.oidc is None:
        raise Unauthorized(
            "GitHub OIDC tokens are not accepted: no target of this hub trusts a "
            "repository ([deployments.targets.<name>.trusts] in hub.toml)"
        )
    claims: GitHubClaims = await hub.oidc.verify(secret)
    request.scope[_CLAIMS] = claims
    return Principal(f"github:{claims.repository}", Role.GUARD, oidc=True)


def allow_target(request: Request, target: str) -> Principal:
    """The caller, once allowed to act for ``target``; an OIDC caller's trusts must name it."""
    claims = request.scope.get(_CLAIMS)
    if claims is None:
        return principal(request)
    hub = request.app.state.hub
    found = replace(authorize(claims, hub.oidc_trusts, target), oidc=True)
    request.scope["principal"] = found
    return found


def oidc_targets(request: Request, all_trusts: Iterable[OidcTrust]) -> set[str] | None:
    """The targets an OIDC caller may see; None for a hub token (no restriction)."""
    claims = request.scope.get(_CLAIMS)
    if claims is None:
        return None
    return {t.target for t in all_trusts if t.repository_id == claims.repository_id}
