"""Retention as leased scheduled work: one ``retention.prune`` row per interval, keyed by its due
time, so every replica that starts schedules the same row and only one replica prunes.

A pass first schedules the next one (a failing pass never stops the chain), then prunes within a
time budget of half the interval, records what it deleted in the audit log and counts it for
/metrics. ``bounceback-hub prune`` runs the same pass on demand.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta

from bounceback.api import audit
from bounceback.api.clock import Clock
from bounceback.api.retention import prune
from bounceback.api.retention.policy import Cutoffs, RetentionPolicy, cutoffs
from bounceback.api.settings import HubSettings
from bounceback.api.store.db import Database
from bounceback.api.work import periodic
from bounceback.api.work.scheduler import Scheduler

log = logging.getLogger("bounceback.retention")

KIND = "retention.prune"
ACTOR = "retention"


def run_key(due: datetime) -> str:
    return periodic.key(KIND, due)


@dataclass(frozen=True)
class Pass:
    cutoffs: Cutoffs
    deleted: dict[str, int]  # rows per kind (counted only, on a dry run)

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

    def __post_init__(self) -> None:
        self._periodic = periodic.Periodic(
            self.scheduler,
            self.clock,
            KIND,
            lambda: self.settings.bounceback_retention_interval_seconds,
            self.prune_now,
            log,
        )

    def register(self) -> None:
        self._periodic.register()

    async def start(self) -> None:
        """Make sure a pass is scheduled (every replica calls this at start-up)."""
        await self._periodic.start()

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
        return Pass(limits, {})
    if dry_run:
        return Pass(limits, await prune.count(db, limits))
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
    return {kind: at.isoformat() if at else None for kind, at in asdict(limits).items()}
