"""The Recovery and System Health pages in a real browser: they render at 1280 px and at 390 px
without console errors (a CSP violation is one) or sideways scrolling, and an operator's forms
work end to end. Screenshots of both pages are saved as artefacts."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from playwright.async_api import ConsoleMessage, Error, Page, expect

from bounceback.api.testing import RunningHub
from tests.api.dashboard.agent_feed import agent
from tests.api.dashboard.browser import *  # noqa: F403
from tests.api.dashboard.browser import screenshots

pytestmark = pytest.mark.anyio


def watch(page: Page) -> list[str]:
    errors: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            errors.append(message.text)

    def on_error(error: Error) -> None:
        errors.append(str(error))

    page.on("console", on_console)
    page.on("pageerror", on_error)
    return errors


async def fits_narrow(page: Page) -> bool:
    await page.set_viewport_size({"width": 390, "height": 844})
    width = await page.evaluate("document.documentElement.scrollWidth")
    await page.set_viewport_size({"width": 1280, "height": 800})
    return bool(width <= 390)


async def test_system_health_renders_and_an_operator_resets_a_breaker(
    browser_hub: RunningHub, operator_page: Page, artifacts: Path
) -> None:
    hub = browser_hub
    for name, base in (("bh-web-1", 20.0), ("bh-web-2", 55.0), ("bh-db-1", 80.0)):
        host = await agent(hub, name)
        await host.report(
            [
                {
                    "cpu_percent": base + (i * 7) % 25,
                    "memory_percent": base + 10 + (i * 3) % 12,
                    "disk_percent:/": 40 + i / 3,
                }
                for i in range(30)
            ],
            breakers=[
                {"dependency": "postgres", "kind": "database", "state": "closed"},
                {
                    "dependency": "payments-api",
                    "kind": "external_api",
                    "state": "open" if name == "bh-web-1" else "closed",
                    "failures": 5 if name == "bh-web-1" else 0,
                },
                {"dependency": "redis", "kind": "cache", "state": "half_open", "failures": 1},
            ],
        )
    errors = watch(operator_page)
    await operator_page.goto(hub.url + "/health")
    await expect(operator_page.locator("#breaker-grid")).to_be_visible()
    await expect(operator_page.locator("#hosts svg.spark").first).to_be_visible()
    assert await fits_narrow(operator_page)
    await screenshots(operator_page, artifacts, "health")

    await operator_page.locator('[id="circuit-bh-web-1:payments-api"] button').click()
    await expect(operator_page.locator(".notice")).to_contain_text(
        "Reset of bh-web-1:payments-api sent to bh-web-1"
    )
    assert errors == []


async def test_recovery_renders_and_an_operator_dry_runs_then_runs_an_action(
    browser_hub: RunningHub, operator_page: Page, artifacts: Path
) -> None:
    hub = browser_hub
    host = await agent(hub, "br-web-1")
    now = hub.hub.clock.now()
    await host.report(
        [{"memory_percent": 62.0, "cpu_percent": 20.0}],
        healing=[
            {
                "attempt_id": f"br-{i}",
                "action": "clear-caches",
                "type": "clean_temp",
                "target": "/var/cache/app",
                "trigger": "check:memory",
                "outcome": "succeeded",
                "started_at": (now - timedelta(minutes=10 * i + 2)).isoformat(),
                "finished_at": (now - timedelta(minutes=10 * i + 1)).isoformat(),
                "before": {"memory_percent": 91.0 + i, "cpu_percent": 40.0},
                "after": {"memory_percent": 58.0 + i, "cpu_percent": 35.0},
            }
            for i in range(3)
        ],
    )
    errors = watch(operator_page)
    await operator_page.goto(hub.url + "/recovery")
    await expect(operator_page.locator("#chart-success svg")).to_be_visible()
    await expect(operator_page.locator("#chart-mttr svg")).to_be_visible()

    await operator_page.locator("#target-high-memory-usage").fill("br-web-1")
    await operator_page.locator(
        'form.test-form:has(#target-high-memory-usage) button[type="submit"]'
    ).click()
    await expect(operator_page.locator("#test-verdict")).to_contain_text("allowed")
    await screenshots(operator_page, artifacts, "recovery-dry-run")
    await operator_page.get_by_role("button", name="Run now on br-web-1").click()
    await expect(operator_page.locator(".notice")).to_contain_text("Started attempt #")
    await expect(operator_page.locator("#active-attempts")).to_contain_text("br-web-1")
    assert await fits_narrow(operator_page)
    await screenshots(operator_page, artifacts, "recovery")
    assert errors == []
