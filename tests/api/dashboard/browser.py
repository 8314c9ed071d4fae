"""Browser test fixtures: a hub on SQLite, Debian's Chromium driven by Playwright, signed-in pages.

A browser test module takes them all with one line (the module-scoped ``anyio_backend`` included,
so the hub and the browser live once per module, not once per test)::

    from tests.api.dashboard.browser import *  # noqa: F403

and then asks for ``browser_hub`` (the RunningHub the browser talks to), ``viewer_page`` /
``operator_page`` / ``admin_page`` (a fresh Playwright page signed in through the form), or
``signed_in_page(browser, browser_hub, role)`` for more than one page per test, and
``artifacts`` + ``screenshots(page, artifacts, name)`` for screenshots at 1280 px and 390 px.

Without /usr/bin/chromium the tests are skipped, unless BOUNCEBACK_REQUIRE_BROWSER=1 (CI), when
they fail. No browser is ever downloaded. Screenshots go to BOUNCEBACK_ARTIFACTS (default: a
pytest temporary directory).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from playwright.async_api import Browser, Dialog, Page, async_playwright

from bounceback.api.auth.roles import Role
from bounceback.api.settings import HubSettings
from bounceback.api.testing import RunningHub, running_hub

__all__ = [
    "CHROMIUM",
    "admin_page",
    "anyio_backend",
    "artifacts",
    "browser",
    "browser_hub",
    "operator_page",
    "screenshots",
    "signed_in_page",
    "viewer_page",
]

CHROMIUM = Path("/usr/bin/chromium")
REQUIRE = "BOUNCEBACK_REQUIRE_BROWSER"
ARTIFACTS = "BOUNCEBACK_ARTIFACTS"
WIDE = {"width": 1280, "height": 800}
NARROW = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


def _hub_settings(data_dir: Path) -> HubSettings:
    """Settings from nothing but what is written here (the environment may hold a CI's)."""
    with pytest.MonkeyPatch.context() as patch:
        for name in list(os.environ):
            if name.lower() in HubSettings.model_fields or name == "BOUNCEBACK_CONFIG":
                patch.delenv(name)
        return HubSettings(
            bounceback_data_dir=data_dir,
            bounceback_dashboard_live_seconds=0.1,
            bounceback_status_page=True,
        )


@pytest.fixture(scope="module")
async def browser_hub(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[RunningHub]:
    """A real hub on SQLite on a free loopback port, shared by the module's browser tests (so
    each test uses its own names: the store keeps what earlier tests made)."""
    settings = _hub_settings(tmp_path_factory.mktemp("browser-hub") / "data")
    async with running_hub(settings) as running:
        yield running


def require_chromium() -> None:
    if not CHROMIUM.exists():
        if os.environ.get(REQUIRE) == "1":
            pytest.fail(f"{REQUIRE}=1 but {CHROMIUM} is missing (apt-get install chromium)")
        pytest.skip(f"{CHROMIUM} is missing")


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    """One headless Chromium per module: Debian's, never a downloaded one."""
    require_chromium()
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            yield launched
        finally:
            await launched.close()


async def _accept(dialog: Dialog) -> None:
    await dialog.accept()  # the "are you sure?" of forms with data-confirm


@asynccontextmanager
async def signed_in_page(browser: Browser, hub: RunningHub, role: Role) -> AsyncIterator[Page]:
    """A page in a fresh browser context (its own cookies), signed in as ``role`` by typing
    the token into the sign-in form; confirmation dialogs are accepted."""
    context = await browser.new_context(viewport=WIDE)  # type: ignore[arg-type]
    try:
        page = await context.new_page()
        page.on("dialog", _accept)
        await page.goto(hub.url + "/login")
        await page.get_by_label("Token").fill(hub.tokens[role])
        await page.get_by_role("button", name="Sign in").click()
        await page.wait_for_url(hub.url + "/")
        yield page
    finally:
        await context.close()


@pytest.fixture
async def viewer_page(browser: Browser, browser_hub: RunningHub) -> AsyncIterator[Page]:
    async with signed_in_page(browser, browser_hub, Role.VIEWER) as page:
        yield page


@pytest.fixture
async def operator_page(browser: Browser, browser_hub: RunningHub) -> AsyncIterator[Page]:
    async with signed_in_page(browser, browser_hub, Role.OPERATOR) as page:
        yield page


@pytest.fixture
async def admin_page(browser: Browser, browser_hub: RunningHub) -> AsyncIterator[Page]:
    async with signed_in_page(browser, browser_hub, Role.ADMIN) as page:
        yield page


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where screenshots go: $BOUNCEBACK_ARTIFACTS (CI keeps it), else a temporary directory."""
    configured = os.environ.get(ARTIFACTS)
    folder = Path(configured) if configured else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


async def screenshots(page: Page, artifacts: Path, name: str) -> list[Path]:
    """The page as it is now, full length, at 1280 px and at 390 px wide (``name-1280.png``,
    ``name-390.png``); the viewport is back at 1280 px afterwards."""
    taken = []
    for size in (WIDE, NARROW):
        await page.set_viewport_size(size)  # type: ignore[arg-type]
        path = artifacts / f"{name}-{size['width']}.png"
        await page.screenshot(path=path, full_page=True)
        taken.append(path)
    await page.set_viewport_size(WIDE)  # type: ignore[arg-type]
    return taken
