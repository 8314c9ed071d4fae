"""Failed authentications are limited per client address and per credential: after the limit,
429 with Retry-After before any credential is looked at; successes are never limited."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from bounceback.api.auth.ratelimit import FailurePolicy, decide, remember
from bounceback.api.auth.roles import Role
from bounceback.api.clock import FakeClock
from bounceback.api.settings import HubSettings
from bounceback.api.testing import RunningHub, running_hub

pytestmark = pytest.mark.anyio

LIMIT = 3
WINDOW = 60.0
INCIDENTS = "/api/incidents"
BAD = {"Authorization": "Bearer bbt_not-a-token"}
HubMaker = Callable[..., AbstractAsyncContextManager[RunningHub]]


def policy(limit: int = LIMIT) -> FailurePolicy:
    return FailurePolicy(limit=limit, window=WINDOW)


def from_address(address: str, headers: dict[str, str] | None = None) -> dict[str, str]:
    # The test client is 127.0.0.1, a proxy uvicorn trusts by default: X-Forwarded-For becomes
    # the ASGI scope's client, as behind a real reverse proxy.
    return {**(headers or {}), "X-Forwarded-For": address}


@pytest.fixture
def make_hub(tmp_path: Path, clock: FakeClock) -> HubMaker:
    @asynccontextmanager
    async def make(**settings: Any) -> AsyncIterator[RunningHub]:
        values = {
            "bounceback_auth_failure_limit": LIMIT,
            "bounceback_auth_failure_window_seconds": WINDOW,
            **settings,
        }
        config = HubSettings(bounceback_data_dir=tmp_path / "data", **values)
        async with running_hub(config, clock=clock) as hub:
            yield hub

    return make


async def fail(hub: RunningHub, times: int, headers: dict[str, str] | None = None) -> None:
    for _ in range(times):
        response = await hub.client.get(INCIDENTS, headers=headers or BAD)
        assert response.status_code == 401, response.text


def assert_limited(response: httpx.Response, retry_after: int) -> None:
    assert response.status_code == 429, response.text
    assert response.headers["retry-after"] == str(retry_after)
    error = response.json()["error"]
    assert error["code"] == "too_many_requests"
    assert error["details"] == {
        "retry_after": retry_after,
        "limit": LIMIT,
        "window_seconds": WINDOW,
    }


# The decision on its own.


def test_failures_below_the_limit_are_allowed() -> None:
    assert decide([0.0, 1.0], 2.0, policy()).allowed


def test_the_limit_reached_within_the_window_refuses_until_the_oldest_failure_expires() -> None:
    verdict = decide([10.0, 20.0, 30.0], 40.0, policy())
    assert not verdict.allowed
    assert verdict.retry_after == 30  # the failure at 10 s leaves the window at 70 s


def test_failures_older_than_the_window_are_forgotten() -> None:
    assert decide([0.0, 1.0, 2.0], 61.0, policy()).allowed
    assert remember((0.0, 1.0, 2.0), 62.5, policy()) == (62.5,)


def test_only_the_last_limit_failures_are_kept() -> None:
    kept: tuple[float, ...] = ()
    for at in range(10):
        kept = remember(kept, float(at), policy())
    assert kept == (7.0, 8.0, 9.0)


def test_a_limit_of_zero_turns_limiting_off() -> None:
    assert decide([1.0] * 50, 2.0, policy(limit=0)).allowed


def test_a_refusal_waits_at_least_one_second() -> None:
    assert decide([0.0, 0.0, 0.0], 59.9, policy()).retry_after == 1


# Through a real hub.


async def test_after_the_limit_even_a_valid_token_gets_429_without_being_checked(
    make_hub: HubMaker,
) -> None:
    async with make_hub() as hub:
        await fail(hub, LIMIT)
        assert_limited(await hub.client.get(INCIDENTS, headers=hub.auth(Role.ADMIN)), 60)
        assert_limited(await hub.client.get(INCIDENTS, headers=BAD), 60)


async def test_the_client_may_try_again_once_the_window_has_passed(
    make_hub: HubMaker, clock: FakeClock
) -> None:
    async with make_hub() as hub:
        await fail(hub, LIMIT)
        await clock.advance(45)
        assert_limited(await hub.client.get(INCIDENTS, headers=hub.auth(Role.VIEWER)), 15)
        await clock.advance(15)
        response = await hub.client.get(INCIDENTS, headers=hub.auth(Role.VIEWER))
        assert response.status_code == 200


async def test_successes_are_never_limited(make_hub: HubMaker) -> None:
    async with make_hub() as hub:
        for _ in range(5 * LIMIT):
            response = await hub.client.get(INCIDENTS, headers=hub.auth(Role.VIEWER))
            assert response.status_code == 200
        await fail(hub, LIMIT - 1)
        response = await hub.client.get(INCIDENTS, headers=hub.auth(Role.VIEWER))
        assert response.status_code == 200


async def test_requests_without_credentials_and_too_weak_roles_are_not_failures(
    make_hub: HubMaker,
) -> None:
    async with make_hub() as hub:
        for _ in range(2 * LIMIT):
            assert (await hub.client.get(INCIDENTS)).status_code == 401
            audit = await hub.client.get("/api/auto-recovery/audit", headers=hub.auth(Role.VIEWER))
            assert audit.status_code == 403
        response = await hub.client.get(INCIDENTS, headers=hub.auth(Role.VIEWER))
        assert response.status_code == 200


async def test_malformed_authorization_headers_count_as_failures(make_hub: HubMaker) -> None:
    async with make_hub() as hub:
        for header in ("Basic dXNlcjpwYXNz", "Bearer", "Token abc"):
            response = await hub.client.get(INCIDENTS, headers={"Authorization": header})
            assert response.status_code == 401
        assert_limited(await hub.client.get(INCIDENTS, headers=hub.auth(Role.VIEWER)), 60)


async def test_other_client_addresses_are_not_affected(make_hub: HubMaker) -> None:
    async with make_hub() as hub:
        for n in range(LIMIT):
            bad = {"Authorization": f"Bearer bbt_guess-{n}"}
            response = await hub.client.get(INCIDENTS, headers=from_address("203.0.113.7", bad))
            assert response.status_code == 401
        blocked = await hub.client.get(
            INCIDENTS, headers=from_address("203.0.113.7", hub.auth(Role.VIEWER))
        )
        assert_limited(blocked, 60)
        other = await hub.client.get(
            INCIDENTS, headers=from_address("198.51.100.9", hub.auth(Role.VIEWER))
        )
        assert other.status_code == 200


async def test_one_credential_failing_from_many_addresses_is_limited(make_hub: HubMaker) -> None:
    async with make_hub() as hub:
        for n in range(LIMIT):
            response = await hub.client.get(INCIDENTS, headers=from_address(f"192.0.2.{n}", BAD))
            assert response.status_code == 401
        assert_limited(await hub.client.get(INCIDENTS, headers=from_address("192.0.2.99", BAD)), 60)
        fine = await hub.client.get(
            INCIDENTS, headers=from_address("192.0.2.99", hub.auth(Role.VIEWER))
        )
        assert fine.status_code == 200


async def test_bad_integration_keys_are_limited_at_intake(make_hub: HubMaker) -> None:
    alert = {"source": "s", "summary": "x", "fingerprint": "f"}
    async with make_hub() as hub:
        for _ in range(LIMIT):
            response = await hub.client.post(
                "/api/alerts", json=alert, headers={"Authorization": "Bearer 0123abcd"}
            )
            assert response.status_code == 401
        assert_limited(
            await hub.client.post("/api/alerts", json=alert, headers=hub.key("generic")), 60
        )


async def test_pagerduty_routing_keys_in_the_body_are_limited_in_pagerdutys_shape(
    make_hub: HubMaker,
) -> None:
    path = "/api/integrations/pagerduty/v2/enqueue"
    event = {
        "event_action": "trigger",
        "payload": {"summary": "s", "source": "h", "severity": "critical"},
    }
    async with make_hub() as hub:
        for n in range(LIMIT):
            refused = await hub.client.post(path, json={**event, "routing_key": f"{n:032x}"})
            assert refused.status_code == 401
        good = {**event, "routing_key": hub.keys["pagerduty"]}
        response = await hub.client.post(path, json=good)
        assert response.status_code == 429
        assert response.headers["retry-after"] == "60"
        assert response.json()["status"] == "invalid event"
        assert response.json()["error"]["code"] == "too_many_requests"


def _jwt_without_kid() -> str:
    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    return f"{part({'alg': 'RS256', 'typ': 'JWT'})}.{part({'sub': 'x'})}.c2ln"


async def test_invalid_github_oidc_tokens_are_limited_on_deployment_routes(
    make_hub: HubMaker,
) -> None:
    deployments = {
        "oidc": {"issuer": "http://127.0.0.1:9"},
        "targets": {"web": {"trusts": [{"repository_id": 1, "repository": "octo/app"}]}},
    }
    gate = "/api/auto-recovery/deployment/gate"
    async with make_hub(deployments=deployments) as hub:
        token = {"Authorization": f"Bearer {_jwt_without_kid()}"}
        for _ in range(LIMIT):
            response = await hub.client.post(gate, json={"target": "web"}, headers=token)
            assert response.status_code == 401, response.text
            assert "kid" in response.json()["error"]["message"]
        limited = await hub.client.post(gate, json={"target": "web"}, headers=hub.auth(Role.GUARD))
        assert_limited(limited, 60)


async def test_a_limit_of_zero_never_refuses(make_hub: HubMaker) -> None:
    async with make_hub(bounceback_auth_failure_limit=0) as hub:
        await fail(hub, 4 * LIMIT)
        response = await hub.client.get(INCIDENTS, headers=hub.auth(Role.VIEWER))
        assert response.status_code == 200


async def test_reaching_the_limit_logs_the_address_once_and_never_the_credential(
    make_hub: HubMaker, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    secret = "bbt_a-guessed-secret-value"
    async with make_hub() as hub:
        await fail(hub, LIMIT, from_address("203.0.113.50", {"Authorization": f"Bearer {secret}"}))
    warnings = [r.getMessage() for r in caplog.records if r.name == "bounceback.auth"]
    assert warnings == [
        "3 failed authentications from 203.0.113.50 within 60 s: refusing it for a while"
    ]
    assert all(secret not in r.getMessage() for r in caplog.records)
