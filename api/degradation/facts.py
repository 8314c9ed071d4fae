"""What the check looks at, read from the store: agents' last metrics, their circuits, and the
open incidents. An agent that went silent is still one of its service's hosts, but its last
readings are stale: they count neither for nor against a condition."""

from __future__ import annotations

from collections.abc import Mapping

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from bounceback.api.degradation.config import DegradationConfig
from bounceback.api.degradation.evaluate import CircuitFact, Facts, IncidentFact
from bounceback.api.deployments.config import DeploymentsConfig
from bounceback.api.schema import IncidentState
from bounceback.api.store.tables import agents, breakers, incidents

OPEN = (IncidentState.TRIGGERED.value, IncidentState.ACKNOWLEDGED.value)


def services(
    config: DegradationConfig, deployments: DeploymentsConfig
) -> Mapping[str, tuple[str, ...]]:
    """Service → hosts: ``[degradation.services]``, else the deployment target's hosts."""
    found = {name: target.hosts for name, target in deployments.targets.items() if target.hosts}
    found.update(config.services)
    return found


async def gather(
    conn: AsyncConnection, config: DegradationConfig, deployments: DeploymentsConfig
) -> Facts:
    hosts: list[str] = []
    live: set[str] = set()
    metrics: dict[str, dict[str, float | None]] = {}
    for row in await conn.execute(
        sa.select(agents.c.id, agents.c.last_metrics, agents.c.silent_since).order_by(agents.c.id)
    ):
        hosts.append(row.id)
        if row.silent_since is None:
            live.add(row.id)
            metrics[row.id] = dict(row.last_metrics or {})
    circuits = tuple(
        CircuitFact(row.agent_id, row.dependency, row.kind, row.state)
        for row in await conn.execute(
            sa.select(breakers.c.agent_id, breakers.c.dependency, breakers.c.kind, breakers.c.state)
        )
        if row.agent_id in live
    )
    open_incidents = tuple(
        IncidentFact(row.severity, dict(row.labels or {}), row.service)
        for row in await conn.execute(
            sa.select(incidents.c.severity, incidents.c.labels, incidents.c.service).where(
                incidents.c.state.in_(OPEN)
            )
        )
    )
    return Facts(
        hosts=tuple(hosts),
        services=services(config, deployments),
        metrics=metrics,
        circuits=circuits,
        incidents=open_incidents,
    )
