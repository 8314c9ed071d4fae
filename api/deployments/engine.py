"""The deployments engine's dependencies, built once per hub process and passed to every
operation: store, clock, settings, scheduler, the prober, the GitHub transport, the switch."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import httpx
from sqlalchemy.ext.asyncio import AsyncConnection

from bounceback.api.agents.desired import Switch, get_switch, set_switch
from bounceback.api.clock import Clock
from bounceback.api.deployments.config import DeploymentsConfig
from bounceback.api.deployments.degradation import DegradationSource, NoDegradation
from bounceback.api.deployments.probes import Prober
from bounceback.api.settings import HubSettings
from bounceback.api.store.db import Database
from bounceback.api.work.scheduler import Scheduler

AUTO_ROLLBACK_SWITCH = "auto_rollback"
PROBE_KIND = "deployment.probe"
WATCH_KIND = "deployment.watch"


@dataclass
class Engine:
    settings: HubSettings
    db: Database
    clock: Clock
    scheduler: Scheduler
    prober: Prober
    github_transport: httpx.AsyncBaseTransport | None = None
    degradation: DegradationSource = field(default_factory=NoDegradation)
    # Wakes the command long-polls of agents given commands (configuration restores).
    wake_agents: Callable[[set[str]], None] = lambda hosts: None

    @classmethod
    def build(
        cls,
        settings: HubSettings,
        db: Database,
        clock: Clock,
        scheduler: Scheduler,
        *,
        probe_transport: httpx.AsyncBaseTransport | None = None,
        github_transport: httpx.AsyncBaseTransport | None = None,
    ) -> Engine:
        prober = Prober(
            clock,
            timeout=settings.deployments.probe_timeout_seconds,
            transport=probe_transport,
        )
        return cls(settings, db, clock, scheduler, prober, github_transport)

    @property
    def config(self) -> DeploymentsConfig:
        return self.settings.deployments

    @property
    def monitoring_enabled(self) -> bool:
        return self.settings.deployment_monitoring_enabled

    async def auto_rollback(self, conn: AsyncConnection) -> Switch:
        return await get_switch(conn, AUTO_ROLLBACK_SWITCH, self.settings.auto_rollback_enabled)

    async def set_auto_rollback(
        self, conn: AsyncConnection, enabled: bool, actor: str, now: datetime
    ) -> None:
        await set_switch(conn, AUTO_ROLLBACK_SWITCH, enabled, actor, now)
