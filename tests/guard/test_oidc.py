"""The guard with no hub token, in a job with ``id-token: write``: it asks the Actions token
service (a loopback one here) for an ID token with the hub as audience, and the real hub checks
it against a loopback JWKS and its per-target trusts."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractAsyncContextManager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from bounceback.api.clock import FakeClock
from tests.guard.world import CliRun, World

pytestmark = pytest.mark.anyio

HUB_URL = "https://hub.example.com"
REQUEST_TOKEN = "actions_request_token_0123456789"
TRUSTED = {"repository": "octo/app", "repository_id": "4242"}
UNTRUSTED = {"repository": "mallory/fork", "repository_id": "666"}


class TokenService:
    """``ACTIONS_ID_TOKEN_REQUEST_URL`` and the issuer's JWKS on one loopback server."""

    def __init__(self, key: rsa.RSAPrivateKey, claims: dict[str, str]) -> None:
        self.audiences: list[str] = []
        self.clock: FakeClock | None = None  # the hub's, which checks the expiry
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
        keys = {"keys": [{**jwk, "kid": "k1", "use": "sig", "alg": "RS256"}]}
        service = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                if parts.path == "/.well-known/jwks":
                    self._send(200, keys)
                elif self.headers.get("Authorization") != f"bearer {REQUEST_TOKEN}":
                    self._send(401, {"message": "bad request token"})
                else:
                    audience = parse_qs(parts.query)["audience"][0]
                    service.audiences.append(audience)
                    self._send(200, {"value": service.sign(audience)})

            def _send(self, status: int, body: object) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._key, self._claims = key, claims
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )
        self._thread.start()

    def sign(self, audience: str) -> str:
        assert self.clock is not None
        now = int(self.clock.now().timestamp())
        repository = self._claims["repository"]
        claims = {
            "iss": self.url,
            "aud": audience,
            "sub": f"repo:{self._claims['repository']}:environment:production",
            "repository_owner": self._claims["repository"].split("/")[0],
            "ref": "refs/heads/main",
            "sha": "b" * 40,
            "workflow_ref": f"{repository}/.github/workflows/deploy.yml@refs/heads/main",
            "environment": "production",
            "run_id": "77",
            "actor": "mona",
            "iat": now,
            "exp": now + 300,
            **self._claims,
        }
        return jwt.encode(claims, self._key, algorithm="RS256", headers={"kid": "k1"})

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


Issuer = Callable[[dict[str, str]], TokenService]
MakeWorld = Callable[..., AbstractAsyncContextManager[World]]


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def issuer(key: rsa.RSAPrivateKey) -> Iterator[Issuer]:
    started: list[TokenService] = []

    def start(claims: dict[str, str]) -> TokenService:
        started.append(TokenService(key, claims))
        return started[-1]

    yield start
    for service in started:
        service.stop()


async def oidc_run(
    make_world: MakeWorld, issuer: Issuer, claims: dict[str, str]
) -> tuple[CliRun, CliRun, TokenService]:
    """``gate`` and ``start`` with no hub token, as a job whose token carries ``claims``."""
    tokens = issuer(claims)
    trusts = [{"repository_id": 4242, "repository": "octo/app", "environments": ["production"]}]
    async with make_world(
        public_url=HUB_URL,
        oidc={"issuer": tokens.url},
        targets={"checkout": {"trusts": trusts}},
    ) as world:
        tokens.clock = world.clock
        env = {
            "ACTIONS_ID_TOKEN_REQUEST_URL": f"{tokens.url}/token?api-version=2.0",
            "ACTIONS_ID_TOKEN_REQUEST_TOKEN": REQUEST_TOKEN,
        }
        flags = world.flags(**{"hub-token": None, "oidc-audience": HUB_URL, "version": "v1"})
        gate = await world.run("gate", *flags, env=env)
        start = await world.run("start", *flags, env=env)
    return gate, start, tokens


async def test_a_trusted_workflow_gates_and_starts_with_an_oidc_token(
    make_world: MakeWorld, issuer: Issuer
) -> None:
    gate, start, tokens = await oidc_run(make_world, issuer, TRUSTED)

    assert gate.status == 0, gate.log
    assert gate.outputs["verdict"] == "allowed"
    assert start.status == 0, start.log
    assert start.outputs["deployment-id"]
    assert start.outputs["report-url"].startswith(HUB_URL)
    assert set(tokens.audiences) == {HUB_URL}
    masked = [c.message for c in start.annotations("add-mask")]
    assert REQUEST_TOKEN in masked and len(masked) >= 3
    assert REQUEST_TOKEN not in start.log.replace(f"::add-mask::{REQUEST_TOKEN}", "")


async def test_a_token_for_an_untrusted_repository_exits_2_with_the_hubs_reason(
    make_world: MakeWorld, issuer: Issuer
) -> None:
    gate, start, _ = await oidc_run(make_world, issuer, UNTRUSTED)

    for run in (gate, start):
        assert run.status == 2, run.log
        [error] = run.annotations("error")
        assert error.properties["title"] == "The hub refused the request"
        assert "answered 403" in error.message and "repository_id" in error.message
