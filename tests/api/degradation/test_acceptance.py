"""Acceptance: the database circuit open on half the hosts of a service degrades it to the
configured level within one check interval; the level holds until the circuits have been
closed for the hold period; an OpenFeature client in an application sees both changes, and the
deployment gate blocks while the service is severely degraded."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any

import pytest
from openfeature import api
from openfeature.client import OpenFeatureClient

from bounceback.agent.openfeature_provider import BouncebackProvider
from bounceback.api.auth.roles import Role
from bounceback.api.clock import FakeClock
from bounceback.api.testing import RunningHub
from tests.api.degradation.conftest import (
    HOSTS,
    Fleet,
    HubFactory,
    advance,
    features,
    settle,
    viewer,
)

pytestmark = pytest.mark.anyio

INTERVAL = 30
HOLD = 120


@asynccontextmanager
async def application(
    hub: RunningHub,
) -> AsyncIterator[tuple[OpenFeatureClient, BouncebackProvider]]:
    """A test application's OpenFeature client on our provider (refreshed by the test)."""
    provider = BouncebackProvider(hub.url, hub.tokens[Role.VIEWER], poll_interval=3600)
    domain = f"app-{uuid.uuid4().hex[:8]}"
    await asyncio.to_thread(api.set_provider_and_wait, provider, domain)
    try:
        yield api.get_client(domain), provider
    finally:
        await asyncio.to_thread(provider.shutdown)


async def level(hub: RunningHub) -> str:
    response = await features(hub)
    assert response.status_code == 200
    value: str = response.json()["features"]["degradation.checkout.level"]
    return value


async def gate(hub: RunningHub) -> dict[str, Any]:
    response = await hub.client.post(
        "/api/auto-recovery/deployment/gate",
        json={"target": "checkout"},
        headers=hub.auth(Role.GUARD),
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def run_for(
    hub: RunningHub, clock: FakeClock, fleet: Fleet, seconds: int, states: dict[str, str]
) -> None:
    """Agents keep reporting ``states`` every 10 s while ``seconds`` pass."""
    for _ in range(seconds // 10):
        await fleet.database(states)
        await advance(hub, clock, 10)


async def test_database_outage_degrades_then_reverts_after_the_hold(
    degradation_hub: HubFactory, clock: FakeClock
) -> None:
    async with degradation_hub(degradation_check_interval=INTERVAL) as hub:
        fleet = Fleet(hub)
        healthy = dict.fromkeys(HOSTS, "closed")
        outage = {**healthy, "web-1": "open", "web-2": "open"}
        await run_for(hub, clock, fleet, 30, healthy)
        async with application(hub) as (flags, provider):
            assert flags.get_boolean_value("feature.recommendations.enabled", True) is True
            assert await level(hub) == "normal"
            assert "degraded" not in {r["code"] for r in (await gate(hub))["reasons"]}

            await fleet.database(outage)
            opened_at = clock.now()
            await run_for(hub, clock, fleet, INTERVAL, outage)
            assert await level(hub) == "severe"
            status = (
                await hub.client.get("/api/auto-recovery/degradation/status", headers=viewer(hub))
            ).json()
            [rule] = [r for r in status["rules"] if r["id"] == "checkout-db-down"]
            since = datetime.fromisoformat(rule["state"]["since"])
            assert since - opened_at <= timedelta(seconds=INTERVAL)
            assert rule["state"]["mode"] == "auto"

            assert await asyncio.to_thread(provider.refresh) is True
            assert flags.get_boolean_value("feature.recommendations.enabled", True) is False
            assert flags.get_boolean_value("cache.catalog.serve_stale", False) is True
            assert flags.get_integer_value("ratelimit.checkout-api.rps", 0) == 50
            assert flags.get_string_value("degradation.checkout.level", "normal") == "severe"

            verdict = await gate(hub)
            assert verdict["allowed"] is False
            assert "degraded" in {r["code"] for r in verdict["reasons"] if r["blocking"]}

            # The circuits close: the level holds for the whole hold period.
            await fleet.database(healthy)
            closed_at = clock.now()
            await run_for(hub, clock, fleet, HOLD, healthy)
            assert await level(hub) == "severe"
            assert await asyncio.to_thread(provider.refresh) is False  # 304: nothing changed
            assert flags.get_boolean_value("feature.recommendations.enabled", True) is False

            await run_for(hub, clock, fleet, INTERVAL + 10, healthy)
            assert await level(hub) == "normal"
            events = (
                await hub.client.get("/api/auto-recovery/degradation/status", headers=viewer(hub))
            ).json()["recent_events"]
            changes = {e["change"]: datetime.fromisoformat(e["at"]) for e in events}
            assert changes["clearing"] - closed_at <= timedelta(seconds=INTERVAL)
            assert changes["reverted"] - changes["clearing"] >= timedelta(seconds=HOLD)

            assert await asyncio.to_thread(provider.refresh) is True
            assert flags.get_boolean_value("feature.recommendations.enabled", True) is True
            assert flags.get_string_value("degradation.checkout.level", "normal") == "normal"
            assert "degraded" not in {r["code"] for r in (await gate(hub))["reasons"]}
        await settle(hub)
