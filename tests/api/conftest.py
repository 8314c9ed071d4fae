from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bounceback.api.settings import HubSettings
from bounceback.api.testing import RunningHub, running_hub


@pytest.fixture
async def hub(db_settings: HubSettings) -> AsyncIterator[RunningHub]:
    """A real hub under uvicorn on 127.0.0.1, on the store of the backend under test."""
    async with running_hub(db_settings) as running:
        yield running
