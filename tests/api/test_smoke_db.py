from __future__ import annotations

import pytest

from bounceback.api.store.db import Database
from bounceback.api.store.migrate import current_revision


@pytest.mark.anyio
async def test_migrations_bring_the_store_to_head(db: Database) -> None:
    assert await current_revision(db) == "0002"
