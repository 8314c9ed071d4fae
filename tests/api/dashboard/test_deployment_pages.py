"""The Deployments pages against a real hub on a fake clock: deployments driven through the
guard's API (a loopback service probed, an agent reporting), then read and acted on through the
dashboard as each role."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bounceback.api.auth.roles import Role
from bounceback.api.clock import FakeClock
from bounceback.api.dashboard import deployment_view as view
from bounceback.api.deployment_wire import MetricVerdict, Verdict, VerdictOutcome
from bounceback.api.deployments.config import DeploymentsConfig
from bounceback.api.settings import HubSettings
from bounceback.api.testing import RunningHub, running_hub
from bounceback.guard import summary as guard_summary
from tests.api.dashboard.signin import csrf_of, signed_in
from tests.api.deployments.conftest import FAST_WATCH, Service, settle

pytestmark = pytest.mark.anyio

API = "/api/auto-recovery/deployment"
HOST = "web-1"


@pytest.fixture
def service() -> Iterator[Service]:
    running = Service().start()
    try:
        yield running
    finally:
        running.stop()


HubFactory = Callable[..., AbstractAsyncContextManager[RunningHub]]


@pytest.fixture
def deploy_hub(db_settings: HubSettings, clock: FakeClock) -> HubFactory:
    """``async with deploy_hub(**settings) as hub``: the deployments' fast watch, fake clock."""

    @asynccontextmanager
    async def make(**settings: Any) -> AsyncIterator[RunningHub]:
        config = DeploymentsConfig.model_validate(FAST_WATCH)
        values = {**db_settings.model_dump(), "deployments": config, **settings}
        async with running_hub(HubSettings.model_validate(values), clock=clock) as running:
            yield running

    return make


async def advance(hub: RunningHub, clock: FakeClock, seconds: float) -> None:
    await settle(hub)
    left = seconds
    while left > 0:
        await clock.advance(min(10.0, left))
        await settle(hub)
        left -= 10.0


class Agent:
    """One agent reporting CPU and memory samples over HTTP, stamped with the hub's clock."""

    def __init__(self, hub: RunningHub) -> None:
        self.hub = hub
        self.seq = 0
        self.token = ""

    async def sample(self, cpu: float) -> None:
        if not self.token:
            self.token = await self.hub.hub.credentials.create_token(HOST, Role.AGENT)
        self.seq += 1
        event = {
            "kind": "sample",
            "seq": self.seq,
            "at": self.hub.hub.clock.now().isoformat(),
            "metrics": {"cpu_percent": cpu, "memory_percent": 40.0},
        }
        body = {
            "hostname": "web-1.example.net",
            "version": "0.1.0",
            "interval_seconds": 10,
            "self_healing_enabled": True,
            "actions": [],
            "breakers": [],
            "events": [event],
        }
        response = await self.hub.client.post(
            f"/api/agents/{HOST}/reports",
            json=body,
            headers={"Authorization": f"Bearer {self.token}"},
        )
        assert response.status_code == 200, response.text


async def track(hub: RunningHub, **fields: Any) -> dict[str, Any]:
    body = {"target": "web", "version": "v2", "previous_version": "v1", **fields}
    response = await hub.client.post(f"{API}/track", json=body, headers=hub.auth(Role.GUARD))
    assert response.status_code == 201, response.text
    tracked: dict[str, Any] = response.json()
    return tracked


async def audit(hub: RunningHub, action: str) -> list[dict[str, Any]]:
    response = await hub.client.get(
        "/api/auto-recovery/audit", params={"action": action}, headers=hub.auth(Role.ADMIN)
    )
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def test_a_failed_deploy_shows_its_charts_verdict_and_timeline_and_an_operator_rolls_back(
    deploy_hub: HubFactory, service: Service, clock: FakeClock
) -> None:
    # Nobody rolls it back by itself: neither the auto-rollback nor the recovery engine.
    async with deploy_hub(auto_rollback_enabled=False, auto_recovery_enabled=False) as hub:
        agent = Agent(hub)
        for cpu in (20.0, 22.0, 21.0):
            await agent.sample(cpu)
            await clock.advance(10)
        tracked = await track(
            hub,
            version="v3",
            health_urls=[service.url],
            hosts=[HOST],
            stabilization_minutes=1,
            monitoring_minutes=2,
            run_url="javascript:alert(1)",
        )
        await advance(hub, clock, 20)
        await hub.client.post(
            f"{API}/{tracked['id']}/deployed", json={}, headers=hub.auth(Role.GUARD)
        )
        service.fail_every = 2
        for _ in range(12):
            await agent.sample(70.0)
            await advance(hub, clock, 20)
        detail = (
            await hub.client.get(f"{API}/{tracked['id']}", headers=hub.auth(Role.VIEWER))
        ).json()
        assert detail["deployment"]["state"] == "failed", detail["timeline"]

        async with signed_in(hub, Role.VIEWER) as viewer:
            page = await viewer.get(f"/deployments/{tracked['id']}")
            assert page.status_code == 200
            text = page.text
            assert 'data-live="deployments"' in text
            assert "web v3 → production" in text
            assert 'class="pill failed"' in text
            # The verdict's table, with the same cells as the guard's job summary.
            [errors] = [
                m for m in detail["deployment"]["verdict"]["metrics"] if m["name"] == "errors"
            ]
            metric = MetricVerdict.model_validate(errors)
            assert f">{guard_summary.number(metric.ratio)}</td>" in text
            assert guard_summary.statistics_cell(metric) in text
            assert 'class="pill verdict-fail"' in text
            assert detail["deployment"]["verdict"]["explanation"].split(":")[0] in text
            # One chart per metric the judge read, each with the deploy marked.
            for title in ("errors · failed", "latency_ms ·", "cpu_percent ·", "memory_percent ·"):
                assert title in text, title
            assert text.count('<svg class="chart"') == 4
            # In each chart's label, tooltip and heading.
            assert text.count("dashed: deploy 00:00:50") == 4 * 3
            assert "after deploy (judged)" in text and ">baseline</text>" in text
            for kind in ("tracked", "baseline", "deployed", "look", "failed"):
                assert f'<span class="pill">{kind}</span>' in text, kind
            assert "javascript:" not in text  # a run URL that is not http(s) is not a link
            assert "Roll back" not in text and "/rollback" not in text  # a viewer has no button
            forged = await viewer.post(
                f"/deployments/{tracked['id']}/rollback",
                data={"csrf": re.findall(r'name="csrf" value="([^"]+)"', text)[0], "reason": "x"},
            )
            assert forged.status_code == 403

        async with signed_in(hub, Role.OPERATOR) as operator:
            page = await operator.get(f"/deployments/{tracked['id']}")
            assert "Roll back" in page.text and "data-confirm=" in page.text
            no_csrf = await operator.post(
                f"/deployments/{tracked['id']}/rollback", data={"reason": "errors doubled"}
            )
            assert no_csrf.status_code == 403
            token = await csrf_of(operator, f"/deployments/{tracked['id']}")
            empty = await operator.post(
                f"/deployments/{tracked['id']}/rollback", data={"csrf": token, "reason": " "}
            )
            assert empty.status_code == 303
            assert "problem=reason" in empty.headers["location"]
            done = await operator.post(
                f"/deployments/{tracked['id']}/rollback",
                data={"csrf": token, "reason": "errors doubled"},
            )
            assert done.status_code == 303
            assert "notice=Rollback+to+v1" in done.headers["location"]
            after = await operator.get(done.headers["location"])
            assert "Rollback to v1 requested" in after.text
            assert 'class="pill rolling_back"' in after.text
            assert "rollback to v1 requested by token:test-operator: errors doubled" in after.text

        [record] = await audit(hub, "deployment.rollback")
        assert record["actor"] == "token:test-operator"
        assert record["target"] == f"deployment:{tracked['id']}"
        assert record["details"]["reason"] == "errors doubled"


async def test_the_list_filters_by_target_and_state_and_pages(deploy_hub: HubFactory) -> None:
    async with deploy_hub() as hub:
        for n in range(52):
            await track(hub, target=f"svc-{n:02d}", version=f"v{n}")
        first = await track(hub, target="api", version="a1")
        await track(hub, target="api", version="a2")  # supersedes a1: cancelled
        async with signed_in(hub, Role.VIEWER) as viewer:
            page = await viewer.get("/deployments")
            assert page.status_code == 200
            assert 'data-live="deployments"' in page.text
            assert page.text.count('<tr>\n    <td><a href="/deployments/') == 50
            assert "svc-51" in page.text and "svc-01" not in page.text
            assert "token:test-guard" in page.text
            [older] = re.findall(r'href="/deployments(\?[^"]*cursor=[^"]+)"', page.text)
            rest = await viewer.get("/deployments" + older.replace("&amp;", "&"))
            assert "svc-01" in rest.text and "svc-51" not in rest.text
            assert ">Newest</a>" in rest.text

            api = await viewer.get("/deployments", params={"target": "api"})
            rows = re.findall(r'<td class="version">([^<]+)</td>', api.text)
            assert rows == ["a2", "a1"]
            cancelled = await viewer.get("/deployments", params={"state": "cancelled"})
            assert re.findall(r'<td class="version">([^<]+)</td>', cancelled.text) == ["a1"]
            assert f'href="/deployments/{first["id"]}"' in cancelled.text
            none = await viewer.get("/deployments", params={"target": "nope"})
            assert "No deployments match these filters" in none.text

            bad = await viewer.get("/deployments", params={"state": "exploded"})
            assert bad.status_code == 400
            assert "state must be one of" in bad.text
            cursor = await viewer.get("/deployments", params={"cursor": "!!"})
            assert cursor.status_code == 400
            assert "cursor" in cursor.text
            missing = await viewer.get("/deployments/999999")
            assert missing.status_code == 404
            huge = await viewer.get("/deployments/99999999999999999999")
            assert huge.status_code == 404


async def test_only_an_admin_switches_auto_rollback_and_it_is_audited(
    deploy_hub: HubFactory,
) -> None:
    async with deploy_hub() as hub:
        async with signed_in(hub, Role.OPERATOR) as operator:
            page = await operator.get("/deployments")
            assert "auto-rollback" in page.text and "Disable auto-rollback" not in page.text
            token = await csrf_of(operator, "/deployments")
            refused = await operator.post(
                "/deployments/auto-rollback/disable", data={"csrf": token}
            )
            assert refused.status_code == 403
        async with signed_in(hub, Role.ADMIN) as admin:
            page = await admin.get("/deployments")
            assert "Disable auto-rollback" in page.text
            assert (await admin.post("/deployments/auto-rollback/disable")).status_code == 403
            token = await csrf_of(admin, "/deployments")
            off = await admin.post("/deployments/auto-rollback/disable", data={"csrf": token})
            assert off.status_code == 303
            page = await admin.get(off.headers["location"])
            assert "Auto-rollback disabled." in page.text
            assert "Enable auto-rollback" in page.text
        status = await hub.client.get(f"{API}/status", headers=hub.auth(Role.VIEWER))
        assert status.json()["auto_rollback_enabled"] is False
        [record] = await audit(hub, "deployment.auto_rollback.disable")
        assert record["actor"] == "token:test-admin"


# -- pure parts ---------------------------------------------------------------------------------


def test_the_verdict_table_has_the_guard_summarys_cells() -> None:
    metric = MetricVerdict(
        name="errors",
        kind="rate",
        outcome=VerdictOutcome.FAIL,
        explanation="errors: 0.5 against 0.01",
        baseline=0.0123456,
        current=0.5,
        baseline_n=30,
        current_n=40,
        ratio=40.5,
        effect_lower=3.25,
        effect_upper=float("inf"),
        p_value=0.0000123,
        alpha=0.05,
        threshold=1.5,
    )
    verdict = Verdict(
        outcome=VerdictOutcome.FAIL,
        look=1,
        max_looks=4,
        explanation="x",
        metrics=[metric],
        judged_at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    [row] = view.verdict_rows(verdict)
    line = guard_summary.metric_line(metric)
    assert f"baseline {row.baseline}," in line
    assert f"after deploy {row.after}," in line
    assert f"ratio {row.ratio}," in line
    assert f"test {row.test}," in line
    assert f"threshold {row.threshold}." in line
    assert row.test == guard_summary.statistics_cell(metric) == "p=1.23e-05 (alpha=0.05) [3.25, ∞]"
    assert view.verdict_rows(None) == []


def test_readings_split_like_the_judge_and_thin_to_the_limit() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    windows = view.Windows(start + timedelta(seconds=100), start + timedelta(seconds=200))
    assert windows.phase(start) is view.Phase.BASELINE
    assert windows.phase(start + timedelta(seconds=150), baseline_round=True) is view.Phase.BASELINE
    assert windows.phase(start + timedelta(seconds=150)) is view.Phase.SETTLING
    assert windows.phase(start + timedelta(seconds=200)) is view.Phase.AFTER
    readings = [
        view.Reading(
            start + timedelta(seconds=s), float(s), windows.phase(start + timedelta(seconds=s))
        )
        for s in range(0, 300)
    ]
    lines = view.series(readings, limit=30)
    assert [line.label for line in lines] == [
        "baseline",
        "after deploy (judged)",
        "warm-up (not judged)",
    ]
    assert sum(len(line.points) for line in lines) <= 30 + 3
    assert all(len(line.points) >= 5 for line in lines)
    few = view.series(readings[:10], limit=30)
    assert [len(line.points) for line in few] == [10]
    assert view.series([]) == []
