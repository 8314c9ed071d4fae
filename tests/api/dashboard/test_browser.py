"""The dashboard in a real browser (Debian's Chromium, headless, via Playwright)."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from tests.api.dashboard.browser import *  # noqa: F403
from tests.api.dashboard.browser import screenshots

pytestmark = pytest.mark.anyio


async def test_signing_in_through_the_form_opens_the_overview(
    viewer_page: Page, artifacts: Path
) -> None:
    await expect(viewer_page.get_by_role("heading", name="Overview")).to_be_visible()
    await screenshots(viewer_page, artifacts, "overview")
