"""GitHub Actions OIDC: verify an Actions ID token, then decide whether its workflow may act for a
target. Verification (signature, issuer, audience, lifetime, required claims) fails with 401;
a valid token from a repository, environment or ref that the target does not trust fails with
403. Messages name the claim that failed and never contain the token.

A workflow gets a token with ``permissions: id-token: write`` and ``core.getIDToken(<hub URL>)``
and presents it as ``Authorization: Bearer <jwt>``; :func:`looks_like_jwt` tells such a
credential from a hub token before any lookup.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

import httpx
import jwt
from jwt.types import Options
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bounceback.api.auth.jwks import JwksCache, JwksUnavailable
from bounceback.api.auth.principal import Principal
from bounceback.api.auth.roles import Role
from bounceback.api.errors import ApiError

GITHUB_ISSUER = "https://token.actions.githubusercontent.com"
ALGORITHM = "RS256"
MAX_TOKEN_LENGTH = 16 * 1024

NowFn = Callable[[], datetime | float]

_ERROR_CODES = {401: "unauthorized", 403: "forbidden", 503: "unavailable"}


class OidcError(ApiError):
    """401: the token is not a valid GitHub ID token for this hub. 403: it is valid, but its
    workflow is not trusted for the target. 503: GitHub's keys cannot be fetched right now."""

    def __init__(self, status: int, message: str, details: Any = None) -> None:
        super().__init__(message, details, code=_ERROR_CODES.get(status, "bad_request"))
        self.status = status


class GitHubClaims(BaseModel):
    """The claims of a verified token that authorisation and audit rely on; the other claims
    (``job_workflow_ref``, ``runner_environment``, …) are kept as extras."""

    model_config = ConfigDict(frozen=True, extra="allow")

    sub: str = Field(min_length=1)
    repository: str = Field(min_length=3, pattern=r"^[^/\s]+/[^/\s]+$")
    repository_id: int = Field(gt=0)  # GitHub sends it as a decimal string
    repository_owner: str = Field(min_length=1)
    repository_owner_id: int | None = None
    ref: str = Field(min_length=1)
    sha: str = Field(min_length=1)
    environment: str | None = None
    workflow_ref: str = Field(min_length=1)
    run_id: str = Field(min_length=1)
    actor: str = Field(min_length=1)
    iss: str
    exp: int
    iat: int


def looks_like_jwt(token: str) -> bool:
    """Whether ``token`` is shaped like an RS256 JWT (three base64url parts whose header names
    RS256), so the hub can send it to the verifier instead of the token store. Never raises."""
    if len(token) > MAX_TOKEN_LENGTH or token.count(".") != 2:
        return False
    header_part, payload_part, signature_part = token.split(".")
    if not (header_part and payload_part and signature_part):
        return False
    try:
        padded = header_part + "=" * (-len(header_part) % 4)
        header = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (ValueError, binascii.Error, UnicodeError, RecursionError):
        return False
    return isinstance(header, dict) and header.get("alg") == ALGORITHM


def _epoch(now: NowFn) -> Callable[[], float]:
    def seconds() -> float:
        value = now()
        if isinstance(value, datetime):
            if value.tzinfo is None:
                raise ValueError("the clock must return timezone-aware datetimes")
            return value.timestamp()
        return float(value)

    return seconds


class GitHubOidcVerifier:
    """Checks GitHub Actions ID tokens presented to the hub at ``audience`` (its public URL).

    ``issuer`` defaults to github.com's; GHES uses ``https://HOSTNAME/_services/token``. Keys
    come from ``jwks_url`` (default ``<issuer>/.well-known/jwks``) or, with ``discover=True``,
    from the issuer's OpenID configuration. ``clock`` returns aware UTC datetimes or epoch
    seconds; ``leeway`` absorbs clock skew between GitHub and the hub.
    """

    def __init__(
        self,
        audience: str,
        *,
        issuer: str = GITHUB_ISSUER,
        jwks_url: str | None = None,
        discover: bool = False,
        clock: NowFn = time.time,
        leeway: float = 60.0,
        jwks_ttl: float = 3600.0,
        min_refetch_interval: float = 60.0,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = 10.0,
    ) -> None:
        if not audience:
            raise ValueError("audience must be the hub's public URL")
        if jwks_url is not None and discover:
            raise ValueError("pass jwks_url or discover=True, not both")
        self.audience = audience
        self.issuer = issuer
        self.leeway = leeway
        self._seconds = _epoch(clock)
        base = issuer.rstrip("/")
        self._keys = JwksCache(
            seconds=self._seconds,
            jwks_url=None if discover else (jwks_url or f"{base}/.well-known/jwks"),
            discovery_url=f"{base}/.well-known/openid-configuration" if discover else None,
            issuer=issuer,
            ttl=jwks_ttl,
            min_refetch_interval=min_refetch_interval,
            transport=transport,
            timeout=timeout,
        )

    async def verify(self, token: str) -> GitHubClaims:
        """The claims of ``token``, or :class:`OidcError` (401, or 503 when keys are out of
        reach)."""
        if len(token) > MAX_TOKEN_LENGTH:
            raise OidcError(401, f"the token is longer than {MAX_TOKEN_LENGTH} characters")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise OidcError(401, "the bearer credential is not a JWT") from None
        alg = header.get("alg")
        if alg != ALGORITHM:
            shown = alg if isinstance(alg, str) and len(alg) <= 16 else "?"
            raise OidcError(401, f"the token is signed with {shown!r}; only RS256 is accepted")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise OidcError(401, "the token header has no 'kid' naming its signing key")
        try:
            key = await self._keys.key(kid)
        except JwksUnavailable as exc:
            raise OidcError(503, f"cannot verify GitHub tokens right now: {exc}") from None
        if key is None:
            raise OidcError(401, f"the token's signing key is not published by {self.issuer}")
        payload = self._decode(token, key)
        self._check_lifetime(payload)
        try:
            return GitHubClaims.model_validate(payload)
        except ValidationError as exc:
            raise OidcError(401, _claims_problem(exc)) from None

    def _decode(self, token: str, key: jwt.PyJWK) -> dict[str, Any]:
        # PyJWT checks the signature, iss and aud; times are checked against our clock below
        # because PyJWT reads the system clock.
        options: Options = {
            "verify_exp": False,
            "verify_nbf": False,
            "verify_iat": False,
            "require": ["iss", "aud", "exp", "iat"],
        }
        try:
            return jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                audience=self.audience,
                issuer=self.issuer,
                options=options,
            )
        except jwt.InvalidSignatureError:
            raise OidcError(401, "the token's signature does not verify") from None
        except jwt.MissingRequiredClaimError as exc:
            raise OidcError(401, f"the token lacks the required claim {exc.claim!r}") from None
        except jwt.InvalidAudienceError:
            shown = _shown(_unverified(token).get("aud"))
            raise OidcError(
                401,
                f"the token's audience is {shown}, not this hub ({self.audience}); "
                f"request the ID token with audience={self.audience}",
            ) from None
        except jwt.InvalidIssuerError:
            shown = _shown(_unverified(token).get("iss"))
            raise OidcError(401, f"the token's issuer is {shown}, not {self.issuer}") from None
        except jwt.PyJWTError:
            raise OidcError(401, "the token is malformed") from None

    def _check_lifetime(self, payload: dict[str, Any]) -> None:
        now = self._seconds()
        times = {}
        for claim in ("exp", "iat", "nbf"):
            value = payload.get(claim)
            if claim == "nbf" and value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise OidcError(401, f"the token's {claim!r} claim is not a number")
            times[claim] = float(value)
        if times["exp"] <= now - self.leeway:
            raise OidcError(401, "the token has expired")
        if times["iat"] > now + self.leeway:
            raise OidcError(401, "the token's 'iat' is in the future; check the hub's clock")
        if times.get("nbf", float("-inf")) > now + self.leeway:
            raise OidcError(401, "the token is not valid yet ('nbf' is in the future)")


def _unverified(token: str) -> dict[str, Any]:
    """Claims of a token whose signature has already verified, for error messages only."""
    claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return claims


def _shown(value: object) -> str:
    text = json.dumps(value) if value is not None else "missing"
    return text if len(text) <= 200 else text[:200] + "…"


def _claims_problem(exc: ValidationError) -> str:
    # Never str(exc): pydantic would echo the claim values.
    problems = []
    for error in exc.errors(include_input=False, include_url=False):
        claim = ".".join(str(part) for part in error["loc"])
        if error["type"] == "missing":
            problems.append(f"lacks the required claim {claim!r}")
        else:
            problems.append(f"has an invalid {claim!r} claim ({error['msg']})")
    return "the token " + "; ".join(problems)


class OidcTrust(BaseModel):
    """One GitHub repository allowed to act for ``target`` (a service name).

    ``repository_id`` is what is matched: it survives renames, while a name can be re-registered
    by someone else after a rename or transfer. ``repository`` is for people reading the config.
    ``environments`` (case-insensitive, as on GitHub) and ``refs`` (exact, e.g.
    ``refs/heads/main``) restrict further when given.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    target: str = Field(min_length=1)
    repository_id: int = Field(gt=0)
    repository: str = Field(pattern=r"^[^/\s]+/[^/\s]+$")
    environments: tuple[str, ...] | None = None
    refs: tuple[str, ...] | None = None
    role: Role = Role.GUARD


def authorize(claims: GitHubClaims, trusts: Iterable[OidcTrust], target: str) -> Principal:
    """The principal ``github:<owner/repo>[@<environment>]`` with the role of the first trust
    for ``target`` that the claims satisfy; :class:`OidcError` 403 naming the claim otherwise."""
    candidates = [trust for trust in trusts if trust.target == target]
    if not candidates:
        raise OidcError(403, f"no GitHub repository is trusted for target {target!r}")
    repo = f"{claims.repository} (repository_id {claims.repository_id})"
    same_repo = [trust for trust in candidates if trust.repository_id == claims.repository_id]
    if not same_repo:
        raise OidcError(
            403,
            f"repository_id does not match: {repo} is not trusted for target {target!r}",
            {"claim": "repository_id", "target": target},
        )
    refusal: OidcError | None = None
    for trust in same_repo:
        problem = _mismatch(claims, trust)
        if problem is None:
            suffix = f"@{claims.environment}" if claims.environment else ""
            return Principal(name=f"github:{claims.repository}{suffix}", role=trust.role)
        claim, why = problem
        refusal = refusal or OidcError(
            403,
            f"{claim} does not match for {repo} on target {target!r}: {why}",
            {"claim": claim, "target": target},
        )
    assert refusal is not None
    raise refusal


def _mismatch(claims: GitHubClaims, trust: OidcTrust) -> tuple[str, str] | None:
    if trust.environments is not None:
        allowed = ", ".join(trust.environments)
        if claims.environment is None:
            return "environment", f"the job has no environment; allowed: {allowed}"
        wanted = {name.casefold() for name in trust.environments}
        if claims.environment.casefold() not in wanted:
            return "environment", f"{claims.environment!r} is not one of: {allowed}"
    if trust.refs is not None and claims.ref not in trust.refs:
        return "ref", f"{claims.ref!r} is not one of: {', '.join(trust.refs)}"
    return None
