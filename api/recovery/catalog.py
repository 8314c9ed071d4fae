"""The effective recovery actions: the predefined five, hub.toml's ``[[recovery.actions]]`` (a
same-id one replaces a predefined one; both read-only through the API) and the API's own."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from bounceback.api.recovery.models import PREDEFINED, RecoveryAction, RecoveryConfig
from bounceback.api.recovery.store import api_actions

REFRESH = timedelta(seconds=10)  # other replicas' API changes are seen this late at most


@dataclass
class Catalog:
    config: RecoveryConfig
    actions: dict[str, RecoveryAction] = field(default_factory=dict)
    loaded_at: datetime | None = None

    @property
    def provisioned(self) -> dict[str, RecoveryAction]:
        found = {a.id: a for a in PREDEFINED} if self.config.predefined else {}
        found.update({a.id: a for a in self.config.actions})
        return found

    async def load(self, conn: AsyncConnection, now: datetime) -> dict[str, RecoveryAction]:
        provisioned = self.provisioned
        api = {a.id: a for a in await api_actions(conn) if a.id not in provisioned}
        self.actions = {**provisioned, **api}
        self.loaded_at = now
        return self.actions

    async def current(self, conn: AsyncConnection, now: datetime) -> dict[str, RecoveryAction]:
        """The cached actions, reloaded when older than ``REFRESH``."""
        if self.loaded_at is None or now - self.loaded_at >= REFRESH:
            return await self.load(conn, now)
        return self.actions
