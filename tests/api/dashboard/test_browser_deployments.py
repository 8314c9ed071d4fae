"""The Deployments, Degradation and public status pages in a real browser (Debian's Chromium):
they render at 1280 and 390 px without console errors (a CSP violation is one) or sideways
scrolling, and a screenshot of each is kept. The hub runs on a fake clock so that a deployment
can be watched to its verdict in a moment."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, ConsoleMessage, Page, expect

from bounceback.api.auth.roles import Role
from bounceback.api.clock import FakeClock
from bounceback.api.degradation.config import DegradationConfig
from bounceback.api.deployments.config import DeploymentsConfig
from bounceback.api.settings import HubSettings
from bounceback.api.testing import RunningHub, running_hub
from tests.api.dashboard.browser import *  # noqa: F403
from tests.api.dashboard.browser import NARROW, WIDE, screenshots, signed_in_page
from tests.api.dashboard.test_deployment_pages import API, HOST, Agent, advance, track
from tests.api.degradation.conftest import RULES
from tests.api.deployments.conftest import FAST_WATCH, Service

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def service() -> Iterator[Service]:
    running = Service().start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
async def watched(
    tmp_path_factory: pytest.TempPathFactory, service: Service
) -> AsyncIterator[tuple[RunningHub, int]]:
    """A hub with rules and targets, and a deployment of ``web`` judged and failed."""
    clock = FakeClock()
    deployments = DeploymentsConfig.model_validate({**FAST_WATCH, "targets": {"web": {}}})
    settings = HubSettings(
        bounceback_data_dir=tmp_path_factory.mktemp("deployments-browser") / "data",
        bounceback_status_page=True,
        auto_rollback_enabled=False,
        auto_recovery_enabled=False,
        deployments=deployments,
        degradation=DegradationConfig.model_validate(RULES),
    )
    async with running_hub(settings, clock=clock) as hub:
        agent = Agent(hub)
        for cpu in (20.0, 24.0, 22.0):
            await agent.sample(cpu)
            await clock.advance(10)
        tracked = await track(
            hub,
            version="v3",
            health_urls=[service.url],
            hosts=[HOST],
            stabilization_minutes=1,
            monitoring_minutes=2,
        )
        await advance(hub, clock, 20)
        await hub.client.post(
            f"{API}/{tracked['id']}/deployed", json={}, headers=hub.auth(Role.GUARD)
        )
        service.fail_every = 2
        for _ in range(12):
            await agent.sample(65.0)
            await advance(hub, clock, 20)
        # The failed deployment opened an incident of web: publish a note about it.
        opened = await hub.client.get(
            "/api/incidents", params={"service": "web"}, headers=hub.auth(Role.VIEWER)
        )
        [incident] = opened.json()["items"]
        note = {"title": "Errors on the web shop", "message": "We are rolling back a release."}
        published = await hub.client.post(
            f"/api/incidents/{incident['id']}/public-note",
            json=note,
            headers=hub.auth(Role.OPERATOR),
        )
        assert published.status_code == 200, published.text
        yield hub, int(tracked["id"])


def console_errors(page: Page) -> list[str]:
    found: list[str] = []

    def seen(message: ConsoleMessage) -> None:
        if message.type == "error":
            found.append(message.text)

    page.on("console", seen)
    page.on("pageerror", lambda error: found.append(str(error)))
    return found


async def fits(page: Page) -> None:
    """Nothing scrolls sideways at either width (wide tables scroll inside their wrapper)."""
    for size in (NARROW, WIDE):
        await page.set_viewport_size(size)  # type: ignore[arg-type]
        overflow: Any = await page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"{page.url} scrolls sideways by {overflow} px at {size['width']}"


async def test_the_deployment_pages_render_cleanly_at_both_widths(
    browser: Browser, watched: tuple[RunningHub, int], artifacts: Path
) -> None:
    hub, deployment_id = watched
    async with signed_in_page(browser, hub, Role.OPERATOR) as page:
        errors = console_errors(page)
        await page.goto(f"{hub.url}/deployments")
        await expect(page.get_by_role("heading", name="Deployments")).to_be_visible()
        await expect(page.locator("table.deployments tbody tr")).to_have_count(1)
        await fits(page)
        await screenshots(page, artifacts, "deployments")

        await page.get_by_role("link", name=str(deployment_id), exact=True).click()
        await expect(page.locator("svg.chart")).to_have_count(4)
        await expect(page.locator("table.verdict")).to_contain_text("errors")
        await expect(page.get_by_role("button", name="Roll back")).to_be_visible()
        await fits(page)
        await screenshots(page, artifacts, "deployment")
        assert errors == []


async def test_the_degradation_page_renders_and_an_operator_activates_a_rule(
    browser: Browser, watched: tuple[RunningHub, int], artifacts: Path
) -> None:
    hub, _ = watched
    async with signed_in_page(browser, hub, Role.OPERATOR) as page:
        errors = console_errors(page)
        await page.goto(f"{hub.url}/degradation")
        row = page.locator("#rule-read-only")
        await row.get_by_placeholder("reason").fill("search drill")
        await row.get_by_role("button", name="Activate").click()  # the confirm is accepted
        await expect(page.get_by_text("Rule read-only activated.")).to_be_visible()
        await expect(page.locator("#rule-read-only")).to_contain_text("search drill")
        await fits(page)
        await screenshots(page, artifacts, "degradation")
        assert errors == []


async def test_the_public_status_page_renders_without_sign_in(
    browser: Browser, watched: tuple[RunningHub, int], artifacts: Path
) -> None:
    hub, _ = watched
    context = await browser.new_context(viewport=WIDE)  # type: ignore[arg-type]
    try:
        page = await context.new_page()
        errors = console_errors(page)
        await page.goto(f"{hub.url}/status")
        await expect(page.get_by_role("heading", name="Status", exact=True)).to_be_visible()
        await expect(page.locator("ul.components li")).to_have_count(2)  # web and checkout
        await expect(page.locator("article.public-incident")).to_contain_text("rolling back")
        await expect(page.get_by_text("deployment of web")).to_have_count(0)  # its summary
        await fits(page)
        await screenshots(page, artifacts, "status")
        assert errors == []
    finally:
        await context.close()
