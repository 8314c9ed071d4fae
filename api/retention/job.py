"""Retention as leased scheduled work: one ``retention.prune`` row per interval, keyed by its due
time, so every replica that starts schedules the same row and only one replica prunes.

A pass first schedules the next one (a failing pass never stops the chain), then prunes within a
time budget of half the interval, records what it deleted in the audit log and counts it for
/metrics. ``bounceback-hub prune`` runs the same pass on demand.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bounceback.api import audit
from bounceback.api.clock import Clock
from bounceback.api.retention import prune
from bounceback.api.retention.policy import Cutoffs, RetentionPolicy, cutoffs
from bounceback.api.settings import HubSettings
from bounceback.api.store.db import Database
from bounceback.api.work.policy import next_boundary
from bounceback.api.work.queue import WorkItem
from bounceback.api.work.scheduler import Outcome, Scheduler

log = logging.getLogger("bounceback.retention")

KIND = "retention.prune"
ACTOR = "retention"


def run_key(due: datetime) -> str:
    return f"{KIND}:{due.isoformat()}"


@dataclass(frozen=True)
class Pass:
    cutoffs: Cutoffs
    deleted: dict[str, int]  # rows per kind (counted only, on a dry run)
    dry_run: bool = False

    @property
    def total(self) -> int:
        return sum(self.deleted.values())


@dataclass
class RetentionJob:
    settings: HubSettings
    db: Database
    clock: Clock
    scheduler: Scheduler
    # told of every pass that deleted something (the metrics' counter)
    on_pruned: Callable[[dict[str, int]], None] = field(default=lambda _deleted: None)

    @property
    def interval(self) -> float:
        return self.settings.bounceback_retention_interval_seconds

    def register(self) -> None:
        self.scheduler.register(KIND, self.run)

    async def start(self) -> None:
        """Make sure a pass is scheduled (every replica calls this at start-up)."""
        await self._schedule_next(self.clock.now())

    async def _schedule_next(self, now: datetime) -> None:
        due = next_boundary(now, self.interval)
        await self.scheduler.schedule(KIND, run_key(due), due, max_attempts=1)

    async def run(self, item: WorkItem) -> Outcome:
        await self._schedule_next(self.clock.now())
        try:
            await self.prune_now()
        except Exception:
            log.exception("retention pass failed; the next one runs on schedule")
        return None

    async def prune_now(self) -> Pass:
        done = await prune_pass(self.settings, self.db, self.clock)
        if done.total:
            self.on_pruned(done.deleted)
        return done


async def prune_pass(
    settings: HubSettings, db: Database, clock: Clock, *, dry_run: bool = False
) -> Pass:
    """One pass now: delete what is past retention (within half an interval), audited; or, on a
    dry run, count it."""
    now = clock.now()
    limits = cutoffs(RetentionPolicy.from_settings(settings), now)
    if limits.nothing:
        return Pass(limits, {}, dry_run)
    if dry_run:
        return Pass(limits, await prune.count(db, limits), dry_run=True)
    budget_ends = now + timedelta(seconds=settings.bounceback_retention_interval_seconds / 2)
    deleted = await prune.prune(db, limits, keep_going=lambda: clock.now() < budget_ends)
    done = Pass(limits, deleted)
    if done.total:
        async with db.transaction() as conn:
            await audit.record(
                conn,
                at=clock.now(),
                actor=ACTOR,
                action="retention.prune",
                target="-",
                details={"deleted": deleted, "before": _times(limits)},
            )
        log.info("retention: deleted %s", ", ".join(f"{n} {k}" for k, n in deleted.items()))
    return done


def _times(limits: Cutoffs) -> dict[str, str | None]:
    return {
        "agent_events": _iso(limits.agent_events),
        "audit": _iso(limits.audit),
        "work": _iso(limits.work),
    }


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at is not None else None
