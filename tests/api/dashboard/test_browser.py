"""The dashboard in a real browser (Debian's Chromium, headless, via Playwright): sign in,
watch an incident arrive live, acknowledge it, find it in the audit log; what a viewer and a
forger cannot do; every page at desktop and phone width, kept as screenshots."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, expect

from bounceback.api.auth.roles import Role
from bounceback.api.dashboard.web import NAV
from bounceback.api.testing import RunningHub
from tests.api.dashboard.browser import *  # noqa: F403
from tests.api.dashboard.browser import NARROW, screenshots, signed_in_page

pytestmark = pytest.mark.anyio


async def alert(hub: RunningHub, summary: str, severity: str = "high") -> int:
    body = {"source": "browser-test", "summary": summary, "severity": severity, "service": "shop"}
    sent = await hub.client.post("/api/alerts", json=body, headers=hub.key("generic"))
    assert sent.status_code == 202, sent.text
    incident_id: int = sent.json()["incident_id"]
    return incident_id


async def live(page: Page) -> None:
    """The page's event stream is open (what changes from now on reaches it)."""
    await expect(page.locator("body")).to_have_attribute("data-live-ready", "1")


async def test_an_operator_signs_in_sees_an_incident_arrive_live_and_acknowledges_it(
    browser: Browser, browser_hub: RunningHub
) -> None:
    context = await browser.new_context()
    try:
        page = await context.new_page()
        await page.goto(browser_hub.url + "/incidents")
        await expect(page).to_have_url(browser_hub.url + "/login?next=/incidents")
        await page.get_by_label("Token").fill("bbt_not-a-token")
        await page.get_by_role("button", name="Sign in").click()
        await expect(page.get_by_role("alert")).to_contain_text("unknown or revoked")
        await page.get_by_label("Token").fill(browser_hub.tokens[Role.OPERATOR])
        await page.get_by_role("button", name="Sign in").click()
        await expect(page).to_have_url(browser_hub.url + "/incidents")
        await live(page)

        incident_id = await alert(browser_hub, "checkout latency over 3 s")
        row = page.locator(f"#incident-{incident_id}")
        await expect(row).to_be_visible()  # no reload: the live update swapped the list in
        await expect(page.locator("body")).to_have_attribute("data-refreshed", re.compile(r"\d+"))
        await expect(row.locator(".pill.triggered")).to_have_text("triggered")

        await row.get_by_role("link", name="checkout latency over 3 s").click()
        await expect(page).to_have_url(f"{browser_hub.url}/incidents/{incident_id}")
        await expect(page.locator("#incident-state")).to_have_text("triggered")
        await page.get_by_role("button", name="Acknowledge").click()
        await expect(page.get_by_role("status")).to_have_text(
            f"Incident {incident_id} acknowledged."
        )
        await expect(page.locator("#incident-state")).to_have_text("acknowledged")
        await expect(page.locator("#timeline")).to_contain_text(
            "acknowledged by token:test-operator via dashboard"
        )
        await expect(page.get_by_role("button", name="Acknowledge")).to_have_count(0)
        await expect(page.get_by_role("link", name="Audit log")).to_have_count(0)
    finally:
        await context.close()

    async with signed_in_page(browser, browser_hub, Role.ADMIN) as admin:
        await admin.get_by_role("link", name="Audit log").click()
        await admin.get_by_label("Target").fill(f"incident:{incident_id}")
        await admin.get_by_role("button", name="Filter").click()
        entry = admin.locator("#audit tbody tr", has_text="escalation.acknowledge")
        await expect(entry).to_contain_text("token:test-operator")
        await expect(entry.locator(".pill")).to_have_text("ok")
        await expect(entry.get_by_role("link", name=f"incident:{incident_id}")).to_be_visible()


async def test_a_viewer_has_no_buttons_and_forged_posts_are_refused(
    browser: Browser, browser_hub: RunningHub
) -> None:
    incident_id = await alert(browser_hub, "password reset mails bounce", "critical")
    path = f"{browser_hub.url}/incidents/{incident_id}"
    async with signed_in_page(browser, browser_hub, Role.VIEWER) as viewer:
        await viewer.goto(path)
        await expect(viewer.locator("#incident-state")).to_have_text("triggered")
        await expect(viewer.locator("main button")).to_have_count(0)
        await expect(viewer.locator("#incident-actions")).to_have_count(0)
        token = await viewer.locator("form.who input[name=csrf]").input_value()
        forged = await viewer.request.post(path + "/acknowledge", form={"csrf": token})
        assert forged.status == 403
        assert "needs the operator role" in await forged.text()

    async with signed_in_page(browser, browser_hub, Role.OPERATOR) as operator:
        await operator.goto(path)
        no_token = await operator.request.post(path + "/acknowledge", form={})
        assert no_token.status == 403
        # A form whose token was tampered with in the page itself.
        await (
            operator.locator("#incident-actions form")
            .first.locator("input[name=csrf]")
            .evaluate("input => { input.value = 'forged' }")
        )
        await operator.get_by_role("button", name="Acknowledge").click()
        await expect(operator.get_by_role("heading", name="Form refused")).to_be_visible()
        await operator.goto(path)
        await expect(operator.locator("#incident-state")).to_have_text("triggered")
        await expect(operator.get_by_role("button", name="Acknowledge")).to_be_visible()


def shot_name(path: str) -> str:
    return path.strip("/").replace("/", "-") or "overview"


async def test_every_page_at_desktop_and_phone_width(
    browser: Browser, browser_hub: RunningHub, admin_page: Page, artifacts: Path
) -> None:
    incident_id = await alert(browser_hub, "inventory sync failing on warehouse-2")
    taken: list[Path] = []
    for path, _label, _role in NAV:
        response = await admin_page.goto(browser_hub.url + path)
        assert response is not None and response.status == 200, path
        taken += await screenshots(admin_page, artifacts, shot_name(path))
    await admin_page.goto(f"{browser_hub.url}/incidents/{incident_id}")
    taken += await screenshots(admin_page, artifacts, "incident-detail")
    status = await admin_page.goto(browser_hub.url + "/status")
    if status is not None and status.status == 200:
        taken += await screenshots(admin_page, artifacts, "status")

    context = await browser.new_context()
    try:
        anonymous = await context.new_page()
        await anonymous.goto(browser_hub.url + "/login")
        taken += await screenshots(anonymous, artifacts, "sign-in")
    finally:
        await context.close()
    assert all(shot.stat().st_size > 1000 for shot in taken)
    assert len(taken) == 2 * (len(NAV) + 2 + (status is not None and status.status == 200))


async def test_every_page_fits_a_phone_without_sideways_scrolling(
    browser_hub: RunningHub, admin_page: Page
) -> None:
    incident_id = await alert(browser_hub, "a rather long summary: " + "replica lag " * 12)
    await admin_page.set_viewport_size(NARROW)  # type: ignore[arg-type]
    paths = [path for path, _label, _role in NAV] + [f"/incidents/{incident_id}", "/status"]
    wide = {}
    for path in paths:
        await admin_page.goto(browser_hub.url + path)
        width = await admin_page.evaluate("document.documentElement.scrollWidth")
        if width > NARROW["width"]:
            wide[path] = width
    assert wide == {}, f"wider than {NARROW['width']} px (tables belong in .table-wrap)"
