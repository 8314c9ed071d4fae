"""The degradation engine's effects: the periodic check as leased scheduled work, manual
activation and revert, the enable/disable switch, and the flag snapshot.

The check is one ``degradation.check`` row per interval, keyed by its due time rounded to the
interval, so every replica that starts schedules the same row and only one runs it. A check first
schedules the next one, then evaluates in its own transaction: a failing check never stops the
chain. With the switch off the chain keeps ticking but evaluates nothing, and the flags serve
their normal values.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from bounceback.api import audit
from bounceback.api.agents.desired import Switch, get_switch, set_switch
from bounceback.api.clock import Clock
from bounceback.api.degradation import facts, store
from bounceback.api.degradation.config import DegradationConfig, RuleConfig
from bounceback.api.degradation.evaluate import (
    Change,
    Decision,
    RuleState,
    activate_manually,
    evaluate,
    revert_manually,
)
from bounceback.api.degradation.flags import Snapshot, highest, snapshot
from bounceback.api.deployments.degradation import Degradation
from bounceback.api.errors import Conflict, NotFound
from bounceback.api.settings import HubSettings
from bounceback.api.store.db import Database
from bounceback.api.work.policy import next_boundary
from bounceback.api.work.queue import WorkItem
from bounceback.api.work.scheduler import Outcome, Scheduler

log = logging.getLogger("bounceback.degradation")

CHECK_KIND = "degradation.check"
SWITCH = "degradation"
SYSTEM_ACTOR = "degradation"


def next_check(now: datetime, interval: float) -> datetime:
    return next_boundary(now, interval)


def check_key(due: datetime) -> str:
    return f"{CHECK_KIND}:{due.isoformat()}"


@dataclass
class DegradationEngine:
    settings: HubSettings
    db: Database
    clock: Clock
    scheduler: Scheduler

    @property
    def config(self) -> DegradationConfig:
        return self.settings.degradation

    def register(self) -> None:
        self.scheduler.register(CHECK_KIND, self.check)

    async def start(self) -> None:
        """Make sure a check is scheduled (every replica calls this at start-up)."""
        await self._schedule_next(self.clock.now())

    async def _schedule_next(self, now: datetime) -> None:
        due = next_check(now, self.settings.degradation_check_interval)
        await self.scheduler.schedule(CHECK_KIND, check_key(due), due, max_attempts=1)

    # -- the periodic check ---------------------------------------------------------------------

    async def check(self, item: WorkItem) -> Outcome:
        await self._schedule_next(self.clock.now())
        try:
            async with self.db.transaction() as conn:
                if (await self.switch(conn)).enabled:
                    await self.run_check(conn, self.clock.now())
        except Exception:
            log.exception("degradation check failed; the next one runs on schedule")
        return None

    async def run_check(self, conn: AsyncConnection, now: datetime) -> list[Decision]:
        states = await store.states(conn, lock=True)
        found = await facts.gather(conn, self.config, self.settings.deployments)
        decisions = evaluate(self.config.rules, found, states, now, hold=self.config.hold)
        for decision in decisions:
            rule = self.config.rule(decision.rule_id)
            assert rule is not None
            await self._apply(
                conn, rule, decision.state, decision.change, SYSTEM_ACTOR, now, decision.message
            )
            log.info("degradation rule %s %s: %s", rule.id, decision.change.value, decision.message)
        return decisions

    async def _apply(
        self,
        conn: AsyncConnection,
        rule: RuleConfig,
        state: RuleState,
        change: Change,
        actor: str,
        now: datetime,
        message: str,
    ) -> None:
        await store.save(conn, rule.id, state, now)
        await store.add_event(
            conn,
            rule_id=rule.id,
            at=now,
            change=change.value,
            level=rule.level.value,
            actor=actor,
            message=message,
        )
        if change in (Change.ACTIVATED, Change.REVERTED):
            await audit.record(
                conn,
                at=now,
                actor=actor,
                action=f"degradation.{change.value}",
                target=f"degradation-rule:{rule.id}",
                details={"level": rule.level.value, "reason": message, "mode": state.mode},
            )

    # -- operators ------------------------------------------------------------------------------

    def rule(self, rule_id: str) -> RuleConfig:
        found = self.config.rule(rule_id)
        if found is None:
            known = ", ".join(rule.id for rule in self.config.rules) or "none"
            raise NotFound(f"degradation rule {rule_id!r} does not exist (configured: {known})")
        return found

    async def activate(self, rule_id: str, reason: str, actor: str) -> RuleState:
        """Activate a rule by hand (operators, and recovery steps): it holds until reverted by
        hand. Raises NotFound for an unknown rule, Conflict while degradation is disabled."""
        rule = self.rule(rule_id)
        now = self.clock.now()
        async with self.db.transaction() as conn:
            if not (await self.switch(conn)).enabled:
                raise Conflict(
                    "degradation is disabled: enable it first "
                    "(POST /api/auto-recovery/degradation/enable)"
                )
            current = await store.state(conn, rule.id, lock=True)
            activated = activate_manually(current, now, reason, actor)
            await self._apply(conn, rule, activated, Change.ACTIVATED, actor, now, reason)
        return activated

    async def revert(self, rule_id: str, reason: str, actor: str) -> RuleState:
        rule = self.rule(rule_id)
        now = self.clock.now()
        async with self.db.transaction() as conn:
            current = await store.state(conn, rule.id, lock=True)
            if not current.active:
                raise Conflict(f"degradation rule {rule.id!r} is not active")
            reverted = revert_manually(rule)
            await self._apply(conn, rule, reverted, Change.REVERTED, actor, now, reason)
        return reverted

    async def switch(self, conn: AsyncConnection) -> Switch:
        return await get_switch(conn, SWITCH, self.settings.degradation_enabled)

    async def set_enabled(self, enabled: bool, actor: str) -> Switch:
        now = self.clock.now()
        async with self.db.transaction() as conn:
            await set_switch(conn, SWITCH, enabled, actor, now)
            await audit.record(
                conn,
                at=now,
                actor=actor,
                action="degradation.enable" if enabled else "degradation.disable",
                target="degradation",
            )
            return await self.switch(conn)

    # -- readers --------------------------------------------------------------------------------

    async def snapshot(self, conn: AsyncConnection) -> Snapshot:
        enabled = (await self.switch(conn)).enabled
        return snapshot(self.config.rules, await store.states(conn), enabled=enabled)

    async def current(self, conn: AsyncConnection, target: str) -> Degradation | None:
        """The gate's source: the highest level of the active rules for ``target`` (a service)
        or the whole fleet; normal while degradation is disabled."""
        if not (await self.switch(conn)).enabled:
            return Degradation(highest([]))
        states = await store.states(conn)
        active = [
            rule
            for rule in self.config.rules
            if states.get(rule.id, RuleState()).active and rule.service in (None, target)
        ]
        level = highest([rule.level for rule in active])
        return Degradation(level, tuple(rule.id for rule in active if rule.level == level))

    async def summary(self, conn: AsyncConnection) -> dict[str, object]:
        """The overview's entry: on or off, the level, how many rules are active."""
        shot = await self.snapshot(conn)
        states = await store.states(conn)
        return {
            "status": "running" if shot.enabled else "disabled",
            "level": shot.level.value,
            "rules": len(self.config.rules),
            "active_rules": sum(
                1 for rule in self.config.rules if states.get(rule.id, RuleState()).active
            ),
        }
