"""A guard authenticated by a GitHub Actions OIDC token: locally signed tokens, a loopback JWKS."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bounceback.api.auth.roles import Role
from bounceback.api.clock import FakeClock
from bounceback.api.testing import RunningHub, serve
from tests.api.deployments.conftest import HubFactory

pytestmark = pytest.mark.anyio

PATH = "/api/auto-recovery/deployment"
HUB_URL = "https://hub.example.com"
REPO_ID = 4242


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@asynccontextmanager
async def issuer(key: rsa.RSAPrivateKey) -> AsyncIterator[str]:
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    keys = {"keys": [{**jwk, "kid": "k1", "use": "sig", "alg": "RS256"}]}

    async def jwks(request: Request) -> JSONResponse:
        return JSONResponse(keys)

    async with serve(Starlette(routes=[Route("/.well-known/jwks", jwks)])) as port:
        yield f"http://127.0.0.1:{port}"


Sign = Callable[..., dict[str, str]]


@pytest.fixture
def oidc_hub(deploy_hub: HubFactory, key: rsa.RSAPrivateKey, clock: FakeClock) -> Callable[[], Any]:
    @asynccontextmanager
    async def make() -> AsyncIterator[tuple[RunningHub, Sign]]:
        async with issuer(key) as url:
            trust = {"repository_id": REPO_ID, "repository": "octo/app"}
            config = {
                "oidc": {"issuer": url},
                "targets": {
                    "web": {"trusts": [{**trust, "environments": ["production"]}]},
                    "api": {"trusts": [{"repository_id": 1, "repository": "other/api"}]},
                },
            }

            def sign(**overrides: Any) -> dict[str, str]:
                now = int(clock.now().timestamp())
                claims = {
                    "iss": url,
                    "aud": HUB_URL,
                    "sub": "repo:octo/app:environment:production",
                    "repository": "octo/app",
                    "repository_id": str(REPO_ID),
                    "repository_owner": "octo",
                    "ref": "refs/heads/main",
                    "sha": "b" * 40,
                    "environment": "production",
                    "workflow_ref": "octo/app/.github/workflows/deploy.yml@refs/heads/main",
                    "run_id": "77",
                    "actor": "mona",
                    "iat": now,
                    "exp": now + 300,
                    **overrides,
                }
                token = jwt.encode(claims, key, algorithm="RS256", headers={"kid": "k1"})
                return {"Authorization": f"Bearer {token}"}

            async with deploy_hub(config, bounceback_public_url=HUB_URL) as hub:
                yield hub, sign

    return make


async def test_a_trusted_workflow_tracks_and_reads_its_target(oidc_hub: Any) -> None:
    async with oidc_hub() as (hub, sign):
        body = {"target": "web", "version": "v1"}
        response = await hub.client.post(f"{PATH}/track", json=body, headers=sign())
        assert response.status_code == 201, response.text
        tracked = response.json()
        assert tracked["actor"] == "github:octo/app@production"
        assert tracked["report_url"] == f"{HUB_URL}/deployments/{tracked['id']}"
        for path in (f"/{tracked['id']}/deployed", "/gate"):
            payload = {"target": "web"} if path == "/gate" else {}
            answer = await hub.client.post(f"{PATH}{path}", json=payload, headers=sign())
            assert answer.status_code == 200, answer.text
        assert (await hub.client.get(f"{PATH}/{tracked['id']}", headers=sign())).status_code == 200


async def test_a_workflow_may_not_act_on_a_target_it_is_not_trusted_for(oidc_hub: Any) -> None:
    async with oidc_hub() as (hub, sign):
        body = {"target": "api", "version": "v1"}
        response = await hub.client.post(f"{PATH}/track", json=body, headers=sign())
        assert response.status_code == 403
        assert "repository_id" in response.json()["error"]["message"]
        operator = hub.auth(Role.OPERATOR)
        other = (await hub.client.post(f"{PATH}/track", json=body, headers=operator)).json()
        for path, payload in (
            (f"/{other['id']}/deployed", {}),
            (f"/{other['id']}/finish", {"outcome": "cancelled"}),
            ("/api/rollback", {"reason": "mine now"}),
        ):
            answer = await hub.client.post(f"{PATH}{path}", json=payload, headers=sign())
            assert answer.status_code == 403, (path, answer.text)
        hidden = await hub.client.get(f"{PATH}/{other['id']}", headers=sign())
        assert hidden.status_code == 404


@pytest.mark.parametrize(
    ("overrides", "status", "words"),
    [
        ({"repository_id": "999"}, 403, "repository_id"),
        ({"environment": "staging"}, 403, "environment"),
        ({"aud": "https://github.com/octo"}, 401, "audience"),
        ({"iss": "https://evil.example"}, 401, "issuer"),
    ],
)
async def test_tokens_from_elsewhere_are_refused_naming_the_claim(
    oidc_hub: Any, overrides: dict[str, Any], status: int, words: str
) -> None:
    async with oidc_hub() as (hub, sign):
        body = {"target": "web", "version": "v1"}
        response = await hub.client.post(f"{PATH}/track", json=body, headers=sign(**overrides))
        assert response.status_code == status, response.text
        assert words in response.json()["error"]["message"]


async def test_an_expired_token_is_refused(oidc_hub: Any, clock: FakeClock) -> None:
    async with oidc_hub() as (hub, sign):
        headers = sign()
        await clock.advance(timedelta(minutes=10))
        body = {"target": "web", "version": "v1"}
        response = await hub.client.post(f"{PATH}/track", json=body, headers=headers)
        assert response.status_code == 401
        assert "expired" in response.json()["error"]["message"]


async def test_oidc_tokens_do_not_open_other_routes(oidc_hub: Any) -> None:
    async with oidc_hub() as (hub, sign):
        for path in (f"{PATH}/status", "/api/incidents"):
            assert (await hub.client.get(path, headers=sign())).status_code == 401


async def test_a_hub_without_trusts_refuses_oidc_tokens(
    deploy_hub: HubFactory, key: rsa.RSAPrivateKey
) -> None:
    async with deploy_hub() as hub:
        token = jwt.encode({"sub": "x"}, key, algorithm="RS256", headers={"kid": "k1"})
        response = await hub.client.post(
            f"{PATH}/track",
            json={"target": "web", "version": "v1"},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert response.status_code == 401
        assert "trusts" in response.json()["error"]["message"]
