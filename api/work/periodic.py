"""Periodic work on the scheduler: one row per interval, keyed by its due time (an interval
boundary counted from the epoch), so every replica that starts schedules the same row and only one
replica runs it. A run first schedules the next one, then does its work: a failing run is logged
and never stops the chain."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from bounceback.api.clock import Clock
from bounceback.api.work.policy import next_boundary
from bounceback.api.work.queue import WorkItem
from bounceback.api.work.scheduler import Outcome, Scheduler


def key(kind: str, due: datetime) -> str:
    return f"{kind}:{due.isoformat()}"


@dataclass(frozen=True)
class Periodic:
    scheduler: Scheduler
    clock: Clock
    kind: str
    interval: Callable[[], float]  # seconds, read at each run (settings may say so)
    work: Callable[[], Awaitable[object]]
    log: logging.Logger

    def register(self) -> None:
        self.scheduler.register(self.kind, self._run)

    async def start(self) -> None:
        """Make sure a run is scheduled (every replica calls this at start-up)."""
        await self._schedule_next()

    async def _schedule_next(self) -> None:
        due = next_boundary(self.clock.now(), self.interval())
        await self.scheduler.schedule(self.kind, key(self.kind, due), due, max_attempts=1)

    async def _run(self, item: WorkItem) -> Outcome:
        await self._schedule_next()
        try:
            await self.work()
        except Exception:
            self.log.exception("%s failed; the next one runs on schedule", self.kind)
        return None
