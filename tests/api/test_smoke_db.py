from __future__ import annotations

import pytest
from alembic.script import ScriptDirectory

from bounceback.api.store.db import Database
from bounceback.api.store.migrate import alembic_config, current_revision


@pytest.mark.anyio
async def test_migrations_bring_the_store_to_head(db: Database) -> None:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None and head >= "0003"
    assert await current_revision(db) == head
