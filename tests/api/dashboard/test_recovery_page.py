"""The Recovery page against a real hub: status, active attempts, success rate and MTTR charts,
history pages, Performance Impact from both sources, and the forms (roles, CSRF, audit)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bounceback.api.auth.roles import Role
from bounceback.api.clock import FakeClock
from bounceback.api.dashboard import charts, impact, recovery_trends
from bounceback.api.dashboard.timefmt import span
from bounceback.api.recovery.stats import Episode
from bounceback.api.settings import HubSettings
from bounceback.api.testing import RunningHub, running_hub
from tests.api.dashboard.agent_feed import Agent, agent, settle
from tests.api.dashboard.signin import csrf_of, signed_in

pytestmark = pytest.mark.anyio
MEMORY = "high-memory-usage"


@pytest.fixture
async def hub(db_settings: HubSettings, clock: FakeClock) -> AsyncIterator[RunningHub]:
    async with running_hub(db_settings, clock=clock) as running:
        yield running


async def recover_once(hub: RunningHub, clock: FakeClock, web: Agent) -> None:
    """Memory above 90 % for 5 minutes: the hub's High Memory Usage action runs on the host and
    verification sees memory back at 40 %."""
    await web.report([{"memory_percent": 95}])
    await clock.advance(timedelta(minutes=5))
    await web.report([{"memory_percent": 95}])  # held for the duration: fires
    for _ in range(3):
        await settle(hub, clock)
        await web.report([{"memory_percent": 95}])
    await settle(hub, clock, 31)
    await web.report([{"memory_percent": 40}])
    await settle(hub, clock)


async def api(hub: RunningHub, path: str, **params: Any) -> Any:
    response = await hub.client.get(path, params=params, headers=hub.auth(Role.VIEWER))
    assert response.status_code == 200, response.text
    return response.json()


def section(page: str, ident: str) -> str:
    start = page.index(f'id="{ident}"')
    end = page.find("</table>", start)
    return page[start : end if end > 0 else None]


async def audit(hub: RunningHub, action: str) -> list[dict[str, Any]]:
    response = await hub.client.get(
        "/api/auto-recovery/audit", params={"action": action}, headers=hub.auth(Role.ADMIN)
    )
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def test_a_recovery_shows_in_the_figures_charts_history_and_impact(
    hub: RunningHub, clock: FakeClock
) -> None:
    web = await agent(hub, "web-1")
    await recover_once(hub, clock, web)
    [attempt] = (await api(hub, "/api/auto-recovery/history"))["items"]
    assert attempt["state"] == "succeeded"
    stats = await api(hub, "/api/auto-recovery/stats", window="7d")

    async with signed_in(hub, Role.VIEWER) as client:
        page = (await client.get("/recovery")).text

    assert '<span id="success-rate">100.0%</span>' in page
    assert f'<p class="status" id="mttr-mean">{span(stats["mttr_seconds"]["mean"])} mean' in page
    success = section(page, "chart-success")
    assert "Success rate per day (last 7d)" in success
    assert re.search(r'<rect class="col"[^>]*><title>01 Jan: 100%</title>', success)
    mttr = section(page, "chart-mttr")
    assert "Mean time to recovery per day" in mttr
    assert len(re.findall(r'<rect class="col"', mttr)) == 1
    history = section(page, "recovery-history")
    assert "High Memory Usage" in history and "web-1" in history
    assert '<span class="pill succeeded"' in history
    assert f'href="/incidents/{attempt["incident_id"]}"' in history
    impact_part = page[page.index('id="impact"') :]
    card = impact_part[impact_part.index("High Memory Usage") :]
    assert "hub recovery" in card[:200]
    assert "<tr><td>memory_percent</td><td>95.0</td><td>40.0</td>" in card
    assert "High Memory Usage: mean before / after" in card
    assert "No recovery is running." in page


async def test_the_agents_self_healing_shows_as_active_and_in_performance_impact(
    hub: RunningHub, clock: FakeClock
) -> None:
    web = await agent(hub, "web-1")
    now = clock.now()
    healed = {
        "attempt_id": "a-1",
        "action": "clear-caches",
        "type": "clean_temp",
        "target": "/tmp",
        "trigger": "check:memory",
        "outcome": "succeeded",
        "started_at": (now - timedelta(seconds=20)).isoformat(),
        "finished_at": (now - timedelta(seconds=5)).isoformat(),
        "before": {"memory_percent": 92.0, "cpu_percent": 30.0},
        "after": {"memory_percent": 51.0, "cpu_percent": 30.0},
    }
    running = {
        "attempt_id": "a-2",
        "action": "restart-app",
        "type": "restart_service",
        "target": "app",
        "trigger": "check:http",
        "outcome": "started",
        "started_at": (now - timedelta(seconds=75)).isoformat(),
    }
    await web.report(healing=[healed, running])

    async with signed_in(hub, Role.VIEWER) as client:
        page = (await client.get("/recovery")).text

    active = section(page, "active-attempts")
    assert "restart-app" in active and "web-1: app" in active
    assert "restart_service running on the agent" in active
    assert '<td class="nowrap">1m 15s</td>' in active
    card = page[page.index("clear-caches <span") :]
    assert "agent self-healing" in card[:200]
    # Largest change first; an unchanged reading is still listed.
    assert card.index("memory_percent") < card.index("cpu_percent")
    assert "<tr><td>memory_percent</td><td>92.0</td><td>51.0</td>" in card


async def test_an_operator_runs_an_action_and_it_is_active_and_audited(
    hub: RunningHub, clock: FakeClock
) -> None:
    db = await agent(hub, "db-1")
    await db.report([{"memory_percent": 50}])
    async with signed_in(hub, Role.OPERATOR) as client:
        page = (await client.get("/recovery")).text
        assert 'action="/recovery/test"' in page
        assert 'action="/recovery/disable"' not in page  # the switch is the admin's
        csrf = await csrf_of(client, "/recovery")
        dry = await client.post(
            "/recovery/test", data={"csrf": csrf, "action": MEMORY, "target": "db-1"}
        )
        assert dry.status_code == 200
        assert '<p id="test-verdict"><span class="pill ok">allowed</span>' in dry.text
        assert "agent_action <strong>clear-caches</strong>" in dry.text
        assert 'action="/recovery/run"' in dry.text
        assert (await api(hub, "/api/auto-recovery/history"))["items"] == []

        run = await client.post(
            "/recovery/run",
            data={"csrf": csrf, "action": MEMORY, "target": "db-1", "host": "db-1"},
        )
        assert run.status_code == 303
        [attempt] = (await api(hub, "/api/auto-recovery/active"))["items"]
        assert f"Started+attempt+%23{attempt['id']}" in run.headers["location"]
        await settle(hub, clock)
        page = (await client.get("/recovery")).text

    active = section(page, "active-attempts")
    assert "High Memory Usage" in active and "db-1" in active
    assert "manual (token:test-operator)" in active
    assert "immediate step 1 of 2: agent_action clear-caches" in active
    [entry] = await audit(hub, "recovery.test.execute")
    assert entry["actor"] == "token:test-operator"
    assert entry["target"] == f"recovery_action:{MEMORY}"
    assert entry["details"] == {"target": "db-1", "attempt_id": attempt["id"]}


async def test_running_again_while_open_is_refused_with_the_reason(hub: RunningHub) -> None:
    async with signed_in(hub, Role.OPERATOR) as client:
        csrf = await csrf_of(client, "/recovery")
        form = {"csrf": csrf, "action": "disk-space", "target": "web-3"}
        assert (await client.post("/recovery/run", data=form)).status_code == 303
        again = await client.post("/recovery/run", data=form)
        shown = await client.get(again.headers["location"])
        assert "safety refuses" in shown.text and "still open" in shown.text
        unknown = await client.post("/recovery/test", data={**form, "action": "nope"})
        shown = await client.get(unknown.headers["location"])
        assert "no recovery action &#39;nope&#39;" in shown.text


async def test_an_admin_switches_recovery_off_as_the_api_would(hub: RunningHub) -> None:
    async with signed_in(hub, Role.ADMIN) as client:
        csrf = await csrf_of(client, "/recovery")
        response = await client.post("/recovery/disable", data={"csrf": csrf})
        assert response.status_code == 303
        page = (await client.get(response.headers["location"])).text
        assert '<p class="status" id="recovery-enabled">disabled</p>' in page
        assert 'action="/recovery/enable"' in page
    [entry] = await audit(hub, "recovery.disable")
    assert entry["actor"] == "token:test-admin" and entry["target"] == "recovery"
    assert (await api(hub, "/api/auto-recovery/status"))["enabled"] is False


async def test_a_viewer_sees_no_forms_and_cannot_post(hub: RunningHub) -> None:
    async with signed_in(hub, Role.VIEWER) as client:
        page = await client.get("/recovery")
        assert page.status_code == 200
        body = page.text.split("</header>", 1)[1]
        assert 'method="post"' not in body
        csrf = await csrf_of(client, "/recovery")
        for path in ("/recovery/test", "/recovery/run", "/recovery/disable"):
            refused = await client.post(path, data={"csrf": csrf, "action": MEMORY, "target": "x"})
            assert refused.status_code == 403, path
    async with signed_in(hub, Role.OPERATOR) as client:
        csrf = await csrf_of(client, "/recovery")
        refused = await client.post("/recovery/disable", data={"csrf": csrf})
        assert refused.status_code == 403
        assert "admin role" in refused.text
    assert (await api(hub, "/api/auto-recovery/status"))["enabled"] is True
    assert (await api(hub, "/api/auto-recovery/history"))["items"] == []


async def test_a_form_without_the_csrf_token_is_refused(hub: RunningHub) -> None:
    async with signed_in(hub, Role.ADMIN) as client:
        for path in ("/recovery/run", "/recovery/disable"):
            refused = await client.post(path, data={"action": MEMORY, "target": "web-1"})
            assert refused.status_code == 403
            assert "CSRF" in refused.text
    assert (await api(hub, "/api/auto-recovery/status"))["enabled"] is True
    assert (await api(hub, "/api/auto-recovery/history"))["items"] == []


async def test_history_pages_back_in_steps_of_25_with_its_filters(hub: RunningHub) -> None:
    for i in range(27):
        response = await hub.client.post(
            "/api/auto-recovery/test/disk-space?execute=true",
            json={"target": f"t-{i:02d}"},
            headers=hub.auth(Role.OPERATOR),
        )
        assert response.status_code == 202, response.text
    async with signed_in(hub, Role.VIEWER) as client:
        first = (await client.get("/recovery", params={"action": "disk-space"})).text
        rows = re.findall(r"<td>(t-\d\d)</td>", section(first, "recovery-history"))
        assert rows == [f"t-{i:02d}" for i in range(26, 1, -1)]
        older = re.search(r'<a href="([^"]+)" rel="next">', first)
        assert older and "action=disk-space" in older.group(1)
        second = (await client.get(older.group(1).replace("&amp;", "&"))).text
        rows = re.findall(r"<td>(t-\d\d)</td>", section(second, "recovery-history"))
        assert rows == ["t-01", "t-00"]
        assert 'rel="next"' not in second and "« Newest" in second
        none = (await client.get("/recovery", params={"action": MEMORY})).text
        assert "No attempt matches." in none


@pytest.mark.parametrize(
    ("query", "named"), [({"window": "1y"}, "window"), ({"cursor": "!!"}, "cursor")]
)
async def test_bad_query_parameters_are_a_400_naming_them(
    hub: RunningHub, query: dict[str, str], named: str
) -> None:
    async with signed_in(hub, Role.VIEWER) as client:
        response = await client.get("/recovery", params=query)
    assert response.status_code == 400
    assert named in response.text.lower()


async def test_every_window_renders(hub: RunningHub) -> None:
    async with signed_in(hub, Role.VIEWER) as client:
        for name, every in (("24h", "hour"), ("7d", "day"), ("30d", "day")):
            page = await client.get("/recovery", params={"window": name})
            assert page.status_code == 200
            assert f"Success rate per {every} (last {name})" in page.text
            assert f'href="/recovery?window={name}" aria-current="true"' in page.text
            assert page.text.count('role="img"') >= 2


# -- pure parts ---------------------------------------------------------------------------------

NOW = datetime(2026, 3, 10, 14, 30, tzinfo=UTC)


def episode(hours_ago: float, outcome: str = "succeeded", took: float = 60) -> Episode:
    end = NOW - timedelta(hours=hours_ago)
    return Episode("a", outcome, end - timedelta(seconds=took), end, 1)


def test_episodes_fall_in_the_bucket_in_which_they_ended() -> None:
    window = recovery_trends.WINDOWS["24h"]
    found = recovery_trends.buckets(
        [episode(0.1), episode(0.2, "escalated"), episode(3), episode(30)], NOW, window
    )
    assert len(found) == 24
    assert found[-1].start == datetime(2026, 3, 10, 14, tzinfo=UTC)
    assert found[0].start == datetime(2026, 3, 9, 15, tzinfo=UTC)
    rates = recovery_trends.success_rate_series(found)
    assert rates[-1] == ("10 Mar 14:00", 50.0)
    assert rates[-4] == ("10 Mar 11:00", 100.0)
    assert sum(value is not None for _, value in rates) == 2  # 30 h ago is outside the window


def test_mttr_is_in_minutes_once_any_bucket_passes_two_minutes() -> None:
    window = recovery_trends.WINDOWS["7d"]
    quick = recovery_trends.buckets([episode(1, took=90)], NOW, window)
    assert recovery_trends.mttr_series(quick)[0][-1] == ("10 Mar", 90.0)
    assert recovery_trends.mttr_series(quick)[1] == " s"
    slow = recovery_trends.buckets([episode(1, took=90), episode(30, took=600)], NOW, window)
    series, unit = recovery_trends.mttr_series(slow)
    assert unit == " min" and series[-1] == ("10 Mar", 1.5) and series[-2] == ("09 Mar", 10.0)


def test_impact_averages_readings_present_on_both_sides() -> None:
    pairs = [
        impact.Pair("hub", "m", "succeeded", {"mem": 90, "cpu": 10}, {"mem": 50, "cpu": 12}),
        impact.Pair("hub", "m", "escalated", {"mem": 96, "disk": 5}, {"mem": 94}),
        impact.Pair("agent", "c", "succeeded", {"mem": 80, "x": "text"}, {"mem": 40, "x": 1}),
    ]
    agent_side, hub_side = impact.summarize(pairs)
    assert (hub_side.action, hub_side.attempts, hub_side.succeeded) == ("m", 2, 1)
    assert [(m.metric, m.before, m.after, m.pairs) for m in hub_side.metrics] == [
        ("mem", 93.0, 72.0, 2),
        ("cpu", 10.0, 12.0, 1),
    ]
    assert [(m.metric, m.change) for m in agent_side.metrics] == [("mem", -40.0)]


def test_column_charts_leave_gaps_and_escape_labels() -> None:
    svg = str(charts.columns([("<a>", 50.0), ("b", None), ("c", 100.0)], title="T", y_max=100))
    assert svg.count('<rect class="col"') == 2
    assert "&lt;a&gt;: 50" in svg and "<a>" not in svg
    empty = str(charts.columns([("a", None)], title="Nothing"))
    assert "no data yet" in empty
    pairs = str(charts.before_after([("mem", 90.0, 40.0)], title="x"))
    assert ">90<" in pairs and ">40<" in pairs
