"""GitHub Actions OIDC: tokens signed locally, keys served by a real loopback JWKS endpoint."""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bounceback.api.auth.oidc import (
    GitHubClaims,
    GitHubOidcVerifier,
    OidcError,
    OidcTrust,
    authorize,
    looks_like_jwt,
)
from bounceback.api.auth.roles import Role
from bounceback.api.clock import FakeClock
from bounceback.api.testing import serve

AUDIENCE = "https://hub.example.com"
REPO_ID = 123456
REQUIRED = [
    "sub",
    "repository",
    "repository_id",
    "repository_owner",
    "ref",
    "sha",
    "workflow_ref",
    "run_id",
    "actor",
]


@pytest.fixture(scope="module")
def key_a() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def key_b() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_jwk(key: rsa.RSAPrivateKey, kid: str) -> dict[str, Any]:
    jwk: dict[str, Any] = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    return {**jwk, "kid": kid, "use": "sig", "alg": "RS256"}


@dataclass
class Issuer:
    """A loopback stand-in for token.actions.githubusercontent.com."""

    url: str = ""
    keys: list[dict[str, Any]] = field(default_factory=list)
    hits: dict[str, int] = field(default_factory=lambda: {"jwks": 0, "config": 0})

    def publish(self, key: rsa.RSAPrivateKey, kid: str) -> None:
        self.keys.append(public_jwk(key, kid))

    def app(self) -> Starlette:
        async def jwks(request: Request) -> JSONResponse:
            self.hits["jwks"] += 1
            return JSONResponse({"keys": self.keys})

        async def config(request: Request) -> JSONResponse:
            self.hits["config"] += 1
            return JSONResponse({"issuer": self.url, "jwks_uri": f"{self.url}/.well-known/jwks"})

        return Starlette(
            routes=[
                Route("/.well-known/jwks", jwks),
                Route("/.well-known/openid-configuration", config),
            ]
        )


@pytest.fixture
async def issuer(key_a: rsa.RSAPrivateKey) -> AsyncIterator[Issuer]:
    found = Issuer()
    found.publish(key_a, "kid-a")
    async with serve(found.app()) as port:
        found.url = f"http://127.0.0.1:{port}"
        yield found


Sign = Callable[..., str]


@pytest.fixture
def sign(clock: FakeClock, issuer: Issuer, key_a: rsa.RSAPrivateKey) -> Sign:
    """A GitHub-shaped ID token; keyword arguments override claims (None drops one)."""

    def make(key: rsa.RSAPrivateKey | None = None, kid: str = "kid-a", **overrides: object) -> str:
        now = int(clock.now().timestamp())
        claims: dict[str, Any] = {
            "iss": issuer.url,
            "aud": AUDIENCE,
            "sub": "repo:octo/app:environment:production",
            "repository": "octo/app",
            "repository_id": str(REPO_ID),
            "repository_owner": "octo",
            "repository_owner_id": "42",
            "ref": "refs/heads/main",
            "sha": "a" * 40,
            "environment": "production",
            "workflow_ref": "octo/app/.github/workflows/deploy.yml@refs/heads/main",
            "job_workflow_ref": "octo/app/.github/workflows/deploy.yml@refs/heads/main",
            "run_id": "987654",
            "actor": "mona",
            "iat": now,
            "nbf": now - 5,
            "exp": now + 300,
            "jti": str(uuid.uuid4()),
        }
        for name, value in overrides.items():
            if value is None:
                claims.pop(name, None)
            else:
                claims[name] = value
        return jwt.encode(claims, key or key_a, algorithm="RS256", headers={"kid": kid})

    return make


@pytest.fixture
def verifier(issuer: Issuer, clock: FakeClock) -> GitHubOidcVerifier:
    return GitHubOidcVerifier(AUDIENCE, issuer=issuer.url, clock=clock.now)


async def rejected(verifier: GitHubOidcVerifier, token: str, status: int = 401) -> OidcError:
    with pytest.raises(OidcError) as caught:
        await verifier.verify(token)
    assert caught.value.status == status
    assert token not in caught.value.message
    for part in token.split("."):
        assert len(part) < 8 or part not in caught.value.message
    return caught.value


def b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


# Verification


@pytest.mark.anyio
async def test_valid_token_is_accepted_with_its_claims(
    verifier: GitHubOidcVerifier, sign: Sign, issuer: Issuer
) -> None:
    claims = await verifier.verify(sign())
    assert claims.repository == "octo/app"
    assert claims.repository_id == REPO_ID
    assert claims.environment == "production"
    assert claims.ref == "refs/heads/main"
    assert claims.model_extra is not None
    assert claims.model_extra["job_workflow_ref"].endswith("@refs/heads/main")
    await verifier.verify(sign())
    assert issuer.hits["jwks"] == 1, "keys are cached between tokens"


@pytest.mark.anyio
async def test_keys_are_found_through_openid_discovery(
    issuer: Issuer, clock: FakeClock, sign: Sign
) -> None:
    verifier = GitHubOidcVerifier(AUDIENCE, issuer=issuer.url, clock=clock.now, discover=True)
    assert (await verifier.verify(sign())).actor == "mona"
    assert issuer.hits == {"jwks": 1, "config": 1}


@pytest.mark.anyio
async def test_token_for_another_audience_is_rejected(
    verifier: GitHubOidcVerifier, sign: Sign
) -> None:
    error = await rejected(verifier, sign(aud="https://github.com/octo"))
    assert "audience" in error.message
    assert "https://github.com/octo" in error.message
    assert AUDIENCE in error.message


@pytest.mark.anyio
async def test_token_from_another_issuer_is_rejected(
    verifier: GitHubOidcVerifier, sign: Sign
) -> None:
    error = await rejected(verifier, sign(iss="https://evil.example"))
    assert "issuer" in error.message


@pytest.mark.anyio
async def test_expired_token_is_rejected_after_the_leeway(
    verifier: GitHubOidcVerifier, sign: Sign, clock: FakeClock
) -> None:
    token = sign()
    await clock.advance(timedelta(seconds=300 + 59))
    await verifier.verify(token)
    await clock.advance(timedelta(seconds=2))
    error = await rejected(verifier, token)
    assert "expired" in error.message


@pytest.mark.anyio
async def test_token_not_yet_valid_is_rejected(
    verifier: GitHubOidcVerifier, sign: Sign, clock: FakeClock
) -> None:
    now = int(clock.now().timestamp())
    error = await rejected(verifier, sign(nbf=now + 600))
    assert "not valid yet" in error.message
    error = await rejected(verifier, sign(iat=now + 600))
    assert "'iat'" in error.message


@pytest.mark.anyio
async def test_token_signed_with_another_key_is_rejected(
    verifier: GitHubOidcVerifier, sign: Sign, key_b: rsa.RSAPrivateKey
) -> None:
    error = await rejected(verifier, sign(key=key_b, kid="kid-a"))
    assert "signature" in error.message


@pytest.mark.anyio
async def test_unsigned_and_hmac_tokens_are_rejected(
    verifier: GitHubOidcVerifier, sign: Sign
) -> None:
    payload = jwt.decode(sign(), options={"verify_signature": False})
    unsigned = f"{b64({'alg': 'none', 'kid': 'kid-a'})}.{b64(payload)}."
    error = await rejected(verifier, unsigned)
    assert "RS256" in error.message
    hmac = jwt.encode(payload, "s" * 64, algorithm="HS256", headers={"kid": "kid-a"})
    error = await rejected(verifier, hmac)
    assert "'HS256'" in error.message
    # An RS256 header on an HMAC signature does not get past the RSA check either.
    forged = ".".join([b64({"alg": "RS256", "kid": "kid-a"}), *hmac.split(".")[1:]])
    assert "signature" in (await rejected(verifier, forged)).message


@pytest.mark.anyio
async def test_unknown_kid_refetches_once_and_finds_the_rotated_key(
    verifier: GitHubOidcVerifier, sign: Sign, issuer: Issuer, key_b: rsa.RSAPrivateKey
) -> None:
    await verifier.verify(sign())
    assert issuer.hits["jwks"] == 1
    issuer.publish(key_b, "kid-b")
    claims = await verifier.verify(sign(key=key_b, kid="kid-b"))
    assert claims.repository_id == REPO_ID
    assert issuer.hits["jwks"] == 2
    await verifier.verify(sign(key=key_b, kid="kid-b"))
    assert issuer.hits["jwks"] == 2


@pytest.mark.anyio
async def test_a_flood_of_unknown_kids_refetches_at_most_once_per_interval(
    verifier: GitHubOidcVerifier, sign: Sign, issuer: Issuer, clock: FakeClock
) -> None:
    await verifier.verify(sign())
    tokens = [sign(kid=f"bogus-{n}") for n in range(50)]
    results = await asyncio.gather(*(verifier.verify(t) for t in tokens), return_exceptions=True)
    assert all(isinstance(r, OidcError) and r.status == 401 for r in results)
    assert issuer.hits["jwks"] == 2
    for token in tokens[:10]:
        await rejected(verifier, token)
    assert issuer.hits["jwks"] == 2
    await clock.advance(timedelta(seconds=61))
    await rejected(verifier, tokens[0])
    assert issuer.hits["jwks"] == 3


@pytest.mark.anyio
async def test_keys_are_refetched_when_the_cache_expires(
    verifier: GitHubOidcVerifier, sign: Sign, issuer: Issuer, clock: FakeClock
) -> None:
    await verifier.verify(sign())
    await clock.advance(timedelta(minutes=59))
    await verifier.verify(sign())
    assert issuer.hits["jwks"] == 1
    await clock.advance(timedelta(minutes=2))
    await verifier.verify(sign())
    assert issuer.hits["jwks"] == 2


@pytest.mark.anyio
@pytest.mark.parametrize("claim", REQUIRED)
async def test_token_without_a_required_claim_is_rejected(
    verifier: GitHubOidcVerifier, sign: Sign, claim: str
) -> None:
    error = await rejected(verifier, sign(**{claim: None}))
    assert f"lacks the required claim {claim!r}" in error.message


@pytest.mark.anyio
@pytest.mark.parametrize("claim", ["exp", "iat", "aud"])
async def test_token_without_a_registered_claim_is_rejected(
    verifier: GitHubOidcVerifier, sign: Sign, claim: str
) -> None:
    error = await rejected(verifier, sign(**{claim: None}))
    assert repr(claim) in error.message


@pytest.mark.anyio
async def test_malformed_claim_names_the_claim_without_its_value(
    verifier: GitHubOidcVerifier, sign: Sign
) -> None:
    error = await rejected(verifier, sign(repository_id="not-a-number-xyz"))
    assert "'repository_id'" in error.message
    assert "xyz" not in error.message


@pytest.mark.anyio
async def test_garbage_bearer_is_not_a_jwt(verifier: GitHubOidcVerifier) -> None:
    for token in ["bbt_abcdef", "a.b.c", "x" * 20_000]:
        await rejected(verifier, token)


@pytest.mark.anyio
async def test_unreachable_keys_are_a_503_and_retried_only_after_a_pause(
    clock: FakeClock, sign: Sign
) -> None:
    calls = 0

    def issuer_down(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(500)

    verifier = GitHubOidcVerifier(
        AUDIENCE,
        issuer="https://issuer.test",
        clock=clock.now,
        transport=httpx.MockTransport(issuer_down),
    )
    token = sign(iss="https://issuer.test")
    error = await rejected(verifier, token, status=503)
    assert error.code == "unavailable"
    await rejected(verifier, token, status=503)
    assert calls == 1
    await clock.advance(timedelta(seconds=61))
    await rejected(verifier, token, status=503)
    assert calls == 2


@pytest.mark.anyio
async def test_discovery_document_for_another_issuer_is_not_trusted(
    clock: FakeClock, sign: Sign
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200, json={"issuer": "https://evil.test", "jwks_uri": "https://evil.test/jwks"}
        )

    verifier = GitHubOidcVerifier(
        AUDIENCE,
        issuer="https://issuer.test",
        clock=clock.now,
        discover=True,
        transport=httpx.MockTransport(handler),
    )
    error = await rejected(verifier, sign(iss="https://issuer.test"), status=503)
    assert "another issuer" in error.message


@pytest.mark.anyio
async def test_cached_keys_keep_working_while_the_issuer_is_down(
    clock: FakeClock, sign: Sign, key_a: rsa.RSAPrivateKey
) -> None:
    up = True
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if not up:
            return httpx.Response(503)
        return httpx.Response(200, json={"keys": [public_jwk(key_a, "kid-a")]})

    verifier = GitHubOidcVerifier(
        AUDIENCE,
        issuer="https://issuer.test",
        clock=clock.now,
        transport=httpx.MockTransport(handler),
    )
    await verifier.verify(sign(iss="https://issuer.test"))
    up = False
    await clock.advance(timedelta(hours=2))
    await verifier.verify(sign(iss="https://issuer.test"))
    await verifier.verify(sign(iss="https://issuer.test"))
    assert calls == 2


# Telling a JWT from a hub token


@pytest.mark.anyio
async def test_looks_like_jwt_accepts_only_rs256_shaped_tokens(sign: Sign) -> None:
    assert looks_like_jwt(sign())
    assert not looks_like_jwt("bbt_0123456789abcdef")
    assert not looks_like_jwt(jwt.encode({"a": 1}, "s" * 64, algorithm="HS256"))
    assert not looks_like_jwt(f"{b64({'alg': 'none'})}.{b64({})}.")
    assert not looks_like_jwt("a.b.c")
    assert not looks_like_jwt("!!!.???.***")
    nested = base64.urlsafe_b64encode(b"[" * 10_000).rstrip(b"=").decode()
    assert not looks_like_jwt(f"{nested}.e30.sig")  # deeper than json can parse: not a JWT


# Authorisation


def claims(**overrides: object) -> GitHubClaims:
    base: dict[str, Any] = {
        "sub": "repo:octo/app:environment:production",
        "repository": "octo/app",
        "repository_id": REPO_ID,
        "repository_owner": "octo",
        "ref": "refs/heads/main",
        "sha": "a" * 40,
        "environment": "production",
        "workflow_ref": "octo/app/.github/workflows/deploy.yml@refs/heads/main",
        "run_id": "1",
        "actor": "mona",
        "iss": "https://token.actions.githubusercontent.com",
        "exp": 2,
        "iat": 1,
    }
    return GitHubClaims.model_validate({**base, **overrides})


TRUSTS = [
    OidcTrust(target="web", repository_id=REPO_ID, repository="octo/app"),
    OidcTrust(
        target="db",
        repository_id=REPO_ID,
        repository="octo/app",
        environments=("Production",),
        refs=("refs/heads/main",),
    ),
]


def forbidden(call: Callable[[], object], claim: str | None) -> OidcError:
    with pytest.raises(OidcError) as caught:
        call()
    assert caught.value.status == 403
    assert caught.value.code == "forbidden"
    if claim is not None:
        assert caught.value.details["claim"] == claim
        assert claim in caught.value.message
    return caught.value


def test_trusted_repository_gets_a_guard_principal() -> None:
    principal = authorize(claims(), TRUSTS, "web")
    assert principal.name == "github:octo/app@production"
    assert principal.role == Role.GUARD
    assert authorize(claims(environment=None), TRUSTS, "web").name == "github:octo/app"


def test_renamed_repository_is_still_trusted_by_id() -> None:
    principal = authorize(claims(repository="octo/renamed-app"), TRUSTS, "web")
    assert principal.name == "github:octo/renamed-app@production"


def test_same_named_repository_with_another_id_is_refused() -> None:
    error = forbidden(lambda: authorize(claims(repository_id=999), TRUSTS, "web"), "repository_id")
    assert "999" in error.message


def test_target_without_trusts_is_refused() -> None:
    error = forbidden(lambda: authorize(claims(), TRUSTS, "cache"), None)
    assert "'cache'" in error.message


def test_environment_restriction_is_case_insensitive_and_required() -> None:
    assert authorize(claims(environment="production"), TRUSTS, "db").role == Role.GUARD
    forbidden(lambda: authorize(claims(environment="staging"), TRUSTS, "db"), "environment")
    error = forbidden(lambda: authorize(claims(environment=None), TRUSTS, "db"), "environment")
    assert "no environment" in error.message


def test_ref_restriction_refuses_other_branches() -> None:
    error = forbidden(lambda: authorize(claims(ref="refs/heads/dev"), TRUSTS, "db"), "ref")
    assert "refs/heads/dev" in error.message


def test_any_matching_trust_grants_its_role() -> None:
    trusts = [
        OidcTrust(target="web", repository_id=REPO_ID, repository="octo/app", refs=("x",)),
        OidcTrust(target="web", repository_id=REPO_ID, repository="octo/app", role=Role.OPERATOR),
    ]
    assert authorize(claims(), trusts, "web").role == Role.OPERATOR
