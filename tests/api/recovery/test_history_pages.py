"""``/history`` and ``/active``: newest first, cut by ``?limit=`` into pages a cursor walks, and
narrowed by the action, target, state and trigger filters."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from bounceback.api.auth.roles import Role
from bounceback.api.clock import FakeClock
from bounceback.api.settings import HubSettings
from bounceback.api.testing import RunningHub, running_hub

pytestmark = pytest.mark.anyio
MEMORY, DISK = "high-memory-usage", "disk-space"


@pytest.fixture
async def hub(db_settings: HubSettings, clock: FakeClock) -> AsyncIterator[RunningHub]:
    async with running_hub(db_settings, clock=clock) as running:
        yield running


async def run(hub: RunningHub, action: str, host: str) -> int:
    response = await hub.client.post(
        f"/api/auto-recovery/test/{action}",
        params={"execute": "true"},
        json={"host": host},
        headers=hub.auth(Role.OPERATOR),
    )
    assert response.status_code == 202, response.text
    attempt_id: int = response.json()["attempt_id"]
    return attempt_id


async def page(hub: RunningHub, path: str = "history", **params: str) -> dict[str, Any]:
    response = await hub.client.get(
        f"/api/auto-recovery/{path}", params=params, headers=hub.auth(Role.VIEWER)
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def ids(body: dict[str, Any]) -> list[int]:
    return [item["id"] for item in body["items"]]


async def test_a_cursor_walks_the_history_newest_first_without_gaps_or_repeats(
    hub: RunningHub,
) -> None:
    made = [await run(hub, MEMORY, f"web-{n}") for n in range(5)]
    first = await page(hub, limit="2")
    second = await page(hub, limit="2", cursor=first["next_cursor"])
    third = await page(hub, limit="2", cursor=second["next_cursor"])
    assert ids(first) + ids(second) + ids(third) == made[::-1]
    assert third["next_cursor"] is None


async def test_filters_narrow_history_and_active(hub: RunningHub) -> None:
    memory_web1 = await run(hub, MEMORY, "web-1")
    memory_web2 = await run(hub, MEMORY, "web-2")
    disk_web1 = await run(hub, DISK, "web-1")
    assert ids(await page(hub, action=MEMORY)) == [memory_web2, memory_web1]
    assert ids(await page(hub, target="web-1")) == [disk_web1, memory_web1]
    assert ids(await page(hub, action=DISK, target="web-2")) == []
    assert ids(await page(hub, trigger="manual")) == [disk_web1, memory_web2, memory_web1]
    assert ids(await page(hub, trigger="metric")) == []
    assert ids(await page(hub, "active", target="web-2")) == [memory_web2]
    states = {item["state"] for item in (await page(hub))["items"]}
    [state] = states
    assert ids(await page(hub, state=state)) == [disk_web1, memory_web2, memory_web1]
    assert ids(await page(hub, state="succeeded")) == []


async def test_a_bad_limit_names_the_field(hub: RunningHub) -> None:
    response = await hub.client.get(
        "/api/auto-recovery/history", params={"limit": "0"}, headers=hub.auth(Role.VIEWER)
    )
    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["field"] == "limit"
