"""The System Health page against a real hub: hosts and their sparklines from agent reports, silent
agents, the breaker grid, and resetting a breaker (operator only, audited as the API does)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
import sqlalchemy as sa

from bounceback.api.auth.roles import Role
from bounceback.api.clock import FakeClock
from bounceback.api.dashboard import health_page, host_samples
from bounceback.api.settings import HubSettings
from bounceback.api.testing import RunningHub, running_hub
from tests.api.dashboard.agent_feed import agent, settle
from tests.api.dashboard.signin import csrf_of, signed_in

pytestmark = pytest.mark.anyio


@pytest.fixture
async def hub(db_settings: HubSettings, clock: FakeClock) -> AsyncIterator[RunningHub]:
    async with running_hub(db_settings, clock=clock) as running:
        yield running


def breaker(dependency: str, state: str, failures: int = 0) -> dict[str, Any]:
    kind = "cache" if dependency == "redis" else "database"
    return {"dependency": dependency, "kind": kind, "state": state, "failures": failures}


def values_of(page: str, host: str, metric: str) -> list[float]:
    row = page[page.index(f'id="host-{host}"') :]
    found = re.search(rf'data-metric="{metric}" data-values="([^"]*)"', row)
    assert found, f"no {metric} cell for {host}"
    return [float(v) for v in found.group(1).split(",") if v]


def cell(page: str, circuit: str) -> str:
    start = page.index(f'id="circuit-{circuit}"')
    return page[start : page.index("</td>", start)]


async def test_hosts_show_their_recent_samples_as_sparklines(hub: RunningHub) -> None:
    web = await agent(hub, "web-1")
    await web.report(
        [
            {
                "cpu_percent": c,
                "memory_percent": 50 + c,
                "disk_percent:/": 40,
                "disk_percent:/var": d,
            }
            for c, d in ((10, 70), (20, 71), (35, 72))
        ]
    )
    db = await agent(hub, "db-1")
    await db.report([{"cpu_percent": float(i), "memory_percent": 30} for i in range(1, 41)])

    async with signed_in(hub, Role.VIEWER) as client:
        page = (await client.get("/health")).text

    assert values_of(page, "web-1", "cpu_percent") == [10, 20, 35]
    assert values_of(page, "web-1", "memory_percent") == [60, 70, 85]
    assert values_of(page, "web-1", "disk_percent") == [70, 71, 72]  # the fullest mount
    assert 'aria-label="last 35, min 10, max 35"' in page
    # Only the newest samples of a long history, oldest first.
    assert values_of(page, "db-1", "cpu_percent") == [
        float(i) for i in range(41 - host_samples.PER_HOST, 41)
    ]
    assert values_of(page, "db-1", "disk_percent") == []
    assert '<span class="pill healthy">healthy</span>' in page


async def test_one_query_reads_every_hosts_samples(hub: RunningHub) -> None:
    for name in ("a-1", "b-1", "c-1"):
        await (await agent(hub, name)).report([{"cpu_percent": 1.0}] * 3)
    statements: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "agent_events" in statement:
            statements.append(statement)

    async with hub.hub.db.read() as conn:
        sa.event.listen(conn.sync_engine, "before_cursor_execute", seen)
        try:
            found = await host_samples.recent(conn, per_host=2)
        finally:
            sa.event.remove(conn.sync_engine, "before_cursor_execute", seen)
    assert len(statements) == 1
    assert {name: len(s.values["cpu_percent"]) for name, s in found.items()} == {
        "a-1": 2,
        "b-1": 2,
        "c-1": 2,
    }


async def test_a_silent_agent_is_highlighted(hub: RunningHub, clock: FakeClock) -> None:
    quiet = await agent(hub, "quiet-1")
    await quiet.report([{"cpu_percent": 5}], interval_seconds=10)
    chatty = await agent(hub, "chatty-1")
    await chatty.report([{"cpu_percent": 5}], interval_seconds=10)
    await settle(hub, clock, 31)  # the silence check fires for both
    await settle(hub, clock, 1)
    await chatty.report([{"cpu_percent": 6}], interval_seconds=10)

    async with signed_in(hub, Role.VIEWER) as client:
        page = (await client.get("/health")).text

    silent = page[
        page.index('id="silent-agents"') : page.index(
            "</section>", page.index('id="silent-agents"')
        )
    ]
    assert "quiet-1" in silent and "chatty-1" not in silent
    assert '<tr id="host-quiet-1" class="silent">' in page
    assert '<span class="pill silent">silent</span>' in page
    assert '<tr id="host-chatty-1" class="">' in page


async def test_the_breaker_grid_has_a_cell_per_host_and_dependency(hub: RunningHub) -> None:
    web = await agent(hub, "web-1")
    await web.report(breakers=[breaker("postgres", "open", 5), breaker("redis", "closed")])
    api = await agent(hub, "api-1")
    await api.report(breakers=[breaker("postgres", "half_open", 1)])

    async with signed_in(hub, Role.VIEWER) as client:
        page = (await client.get("/health")).text

    grid = page[page.index('id="breaker-grid"') :]
    assert re.findall(r"<th>([a-z]+)</th>", grid[: grid.index("</thead>")]) == [
        "postgres",
        "redis",
    ]
    assert 'data-state="open"' in cell(page, "web-1:postgres")
    assert "5 fails" in cell(page, "web-1:postgres")
    assert 'data-state="closed"' in cell(page, "web-1:redis")
    assert 'data-state="half_open"' in cell(page, "api-1:postgres")
    assert "1 fail<" in cell(page, "api-1:postgres")
    assert 'id="circuit-api-1:redis"' not in page  # api-1 has no redis breaker: an empty cell
    assert '<p class="status" id="breakers-not-closed">2 not closed</p>' in page
    # A viewer sees the grid and no buttons.
    assert "/reset" not in page and "<button" not in page.split("</header>", 1)[1]


async def test_an_operator_resets_a_breaker_as_the_api_would(hub: RunningHub) -> None:
    web = await agent(hub, "web-1")
    await web.report(breakers=[breaker("postgres", "open", 5)])

    async with signed_in(hub, Role.OPERATOR) as client:
        page = (await client.get("/health")).text
        assert 'action="/health/circuits/web-1%3Apostgres/reset"' in page
        assert 'action="/health/circuits/reset-all"' in page
        csrf = await csrf_of(client, "/health")
        response = await client.post("/health/circuits/web-1%3Apostgres/reset", data={"csrf": csrf})
        assert response.status_code == 303
        assert "Reset+of+web-1%3Apostgres+sent" in response.headers["location"]
        shown = await client.get(response.headers["location"])
        assert "Reset of web-1:postgres sent to web-1" in shown.text

    audit = await hub.client.get(
        "/api/auto-recovery/audit", params={"action": "circuit.reset"}, headers=hub.auth(Role.ADMIN)
    )
    [entry] = audit.json()["items"]
    assert entry["actor"] == "token:test-operator"
    assert entry["target"] == "circuit:web-1:postgres"
    assert entry["outcome"] == "ok"
    answer = await web.report()
    assert [(c["kind"], c["target"]) for c in answer["commands"]] == [("reset_breaker", "postgres")]


async def test_an_operator_resets_every_open_breaker(hub: RunningHub) -> None:
    web = await agent(hub, "web-1")
    await web.report(breakers=[breaker("postgres", "open", 5), breaker("redis", "half_open")])
    async with signed_in(hub, Role.OPERATOR) as client:
        csrf = await csrf_of(client, "/health")
        response = await client.post("/health/circuits/reset-all", data={"csrf": csrf})
        assert response.status_code == 303
        assert "2+circuit" in response.headers["location"]
    answer = await web.report()
    assert sorted(c["target"] for c in answer["commands"]) == ["postgres", "redis"]


async def test_a_viewer_cannot_reset_and_a_form_without_csrf_is_refused(hub: RunningHub) -> None:
    web = await agent(hub, "web-1")
    await web.report(breakers=[breaker("postgres", "open", 5)])
    async with signed_in(hub, Role.VIEWER) as client:
        csrf = await csrf_of(client, "/health")
        forged = await client.post("/health/circuits/web-1:postgres/reset", data={"csrf": csrf})
        assert forged.status_code == 403
        assert "operator role" in forged.text
    async with signed_in(hub, Role.OPERATOR) as client:
        missing = await client.post("/health/circuits/web-1:postgres/reset", data={})
        assert missing.status_code == 403
        assert "CSRF" in missing.text
    audit = await hub.client.get(
        "/api/auto-recovery/audit", params={"action": "circuit.reset"}, headers=hub.auth(Role.ADMIN)
    )
    assert audit.json()["items"] == []
    assert (await web.report())["commands"] == []


async def test_resetting_an_unknown_circuit_says_so(hub: RunningHub) -> None:
    async with signed_in(hub, Role.OPERATOR) as client:
        csrf = await csrf_of(client, "/health")
        response = await client.post("/health/circuits/nope-1:postgres/reset", data={"csrf": csrf})
        assert response.status_code == 303
        shown = await client.get(response.headers["location"])
        assert "circuit nope-1:postgres does not exist" in shown.text


def test_the_grid_lists_every_dependency_once_in_order() -> None:
    def circuit(host: str, dependency: str, state: str) -> dict[str, Any]:
        return {"host": host, "dependency": dependency, "state": state, "host_silent": False}

    found = health_page.grid(
        [circuit("b", "redis", "open"), circuit("a", "pg", "closed"), circuit("b", "pg", "closed")]
    )
    assert found["dependencies"] == ["pg", "redis"]
    assert [row["host"] for row in found["rows"]] == ["a", "b"]
    assert found["not_closed"] == 1
