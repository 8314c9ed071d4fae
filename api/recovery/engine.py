"""The recovery engine: attempts, plus what starts them on their own and what moves them on.

What starts attempts on its own lives in ``triggers`` (agent samples held for the duration, the
incident scan); what moves an attempt on once started lives in ``progress`` (leased scheduled
work); the switch, the safety check and the attempt rows live in ``attempts``.
"""

from __future__ import annotations

from datetime import datetime
from functools import partial

from sqlalchemy.ext.asyncio import AsyncConnection

from bounceback.api.recovery import progress, store, triggers
from bounceback.api.recovery.attempts import Attempts
from bounceback.api.recovery.names import ADVANCE, HUBSTEP, SCAN, WAKE


class RecoveryEngine(Attempts):
    def register(self) -> None:
        self.scheduler.register_transactional(ADVANCE, partial(progress.look, self))
        self.scheduler.register(HUBSTEP, partial(progress.hub_step, self))
        self.scheduler.register_transactional(SCAN, partial(triggers.scan, self))
        self.scheduler.register(WAKE, partial(progress.wake_agents, self))

    async def start(self) -> None:
        """Make sure the incident scan runs (every replica calls this at start-up)."""
        async with self.db.transaction() as conn:
            await triggers.ensure_scan(self, conn)
        self.scheduler.wake()

    async def on_sample(
        self,
        conn: AsyncConnection,
        host: str,
        metrics: dict[str, float],
        now: datetime,
        held: dict[str, datetime] | None = None,
    ) -> list[int]:
        """A report's newest sample: follow held thresholds; start the actions that fire.
        ``held``: the host's breaches when already read (``store.breaches_of``)."""
        return await triggers.on_sample(self, conn, host, metrics, now, held)

    async def breaches_of(
        self, conn: AsyncConnection, hosts: list[str]
    ) -> dict[str, dict[str, datetime]]:
        """The held breaches of several hosts at once, for ``on_sample(held=…)``."""
        return await store.breaches_of(conn, hosts)
