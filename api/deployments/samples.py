"""What the judge compares: the pre-deploy baseline and the data since the deploy, gathered from
the hub's probes, the target hosts' agent readings and the incidents of the target.

- ``errors`` (rate): failed probe requests per probe request;
- ``latency_ms`` (distribution): probe latency of every answered request;
- ``cpu_percent``, ``memory_percent`` (distributions): the hosts' agent samples;
- ``incidents`` (rate): incidents opened for the target (service) per minute;
- ``no_critical_incident``, ``circuits_closed`` (health): no critical incident opened for the
  target, no circuit of its hosts opened, since the deploy. They fail by rule.

Also the policy for one deployment: hub.toml's judge defaults, the deployment's thresholds, and
the latency floor turned into a tolerance relative to the baseline median.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from bounceback.api.agent_wire import BreakerState
from bounceback.api.deployment_wire import Thresholds
from bounceback.api.deployments.store import Probe
from bounceback.api.deployments.verdict import Counts, JudgePolicy, Samples
from bounceback.api.schema import IncidentState, Severity
from bounceback.api.store.tables import agent_events, breakers, incidents

AGENT_METRICS = ("cpu_percent", "memory_percent")
LATENCY = "latency_ms"


@dataclass
class Side:
    """One side of the comparison while it is being gathered."""

    rates: dict[str, Counts] = field(default_factory=dict)
    distributions: dict[str, list[float]] = field(default_factory=dict)
    health: dict[str, bool] = field(default_factory=dict)

    def frozen(self) -> Samples:
        return Samples(dict(self.rates), dict(self.distributions), dict(self.health))


def add_probes(side: Side, probes: Sequence[Probe]) -> None:
    if not probes:
        return
    side.rates["errors"] = Counts(sum(1 for p in probes if not p.ok), float(len(probes)))
    side.distributions[LATENCY] = [p.latency_ms for p in probes if p.latency_ms is not None]


async def add_agent_metrics(
    conn: AsyncConnection, side: Side, hosts: Sequence[str], since: datetime, until: datetime
) -> None:
    if not hosts:
        return
    rows = await conn.execute(
        sa.select(agent_events.c.data)
        .where(
            agent_events.c.agent_id.in_(list(hosts)),
            agent_events.c.kind == "sample",
            agent_events.c.at >= since,
            agent_events.c.at < until,
        )
        .order_by(agent_events.c.id)
    )
    for (data,) in rows:
        metrics = data.get("metrics") or {}
        for name in AGENT_METRICS:
            value = metrics.get(name)
            if isinstance(value, int | float):
                side.distributions.setdefault(name, []).append(float(value))


async def add_incident_rate(
    conn: AsyncConnection, side: Side, target: str, since: datetime, until: datetime
) -> None:
    minutes = (until - since).total_seconds() / 60
    if minutes <= 0:
        return
    opened = await conn.scalar(
        sa.select(sa.func.count()).where(
            incidents.c.service == target,
            incidents.c.created_at >= since,
            incidents.c.created_at < until,
        )
    )
    side.rates["incidents"] = Counts(int(opened or 0), minutes)


async def critical_incidents(
    conn: AsyncConnection, target: str, since: datetime | None = None
) -> list[dict[str, Any]]:
    """Open critical incidents of the target (service), optionally only those opened since."""
    query = sa.select(incidents.c.id, incidents.c.summary, incidents.c.created_at).where(
        incidents.c.service == target,
        incidents.c.severity == Severity.CRITICAL.value,
        incidents.c.state != IncidentState.RESOLVED.value,
    )
    if since is not None:
        query = query.where(incidents.c.created_at >= since)
    rows = await conn.execute(query.order_by(incidents.c.id))
    return [{"id": i, "summary": s, "opened_at": at.isoformat()} for i, s, at in rows]


async def open_circuits(
    conn: AsyncConnection, hosts: Sequence[str], since: datetime | None = None
) -> list[dict[str, Any]]:
    if not hosts:
        return []
    query = sa.select(breakers.c.agent_id, breakers.c.dependency, breakers.c.changed_at).where(
        breakers.c.agent_id.in_(list(hosts)), breakers.c.state == BreakerState.OPEN.value
    )
    if since is not None:
        query = query.where(breakers.c.changed_at >= since)
    rows = await conn.execute(query.order_by(breakers.c.agent_id, breakers.c.dependency))
    return [{"circuit": f"{agent}:{dependency}", "host": agent} for agent, dependency, _ in rows]


async def add_health(
    conn: AsyncConnection, side: Side, target: str, hosts: Sequence[str], since: datetime
) -> None:
    side.health["no_critical_incident"] = not await critical_incidents(conn, target, since)
    if hosts:
        side.health["circuits_closed"] = not await open_circuits(conn, hosts, since)


def policy_for(
    defaults: JudgePolicy, thresholds: Thresholds, baseline: Samples, latency_floor_ms: float
) -> JudgePolicy:
    """hub.toml's judge settings with the deployment's thresholds on top."""
    changes: dict[str, Any] = {}
    if thresholds.alpha is not None:
        changes["alpha"] = thresholds.alpha
    if thresholds.error_rate_ratio is not None:
        changes["rate_ratio_limit"] = thresholds.error_rate_ratio
    if thresholds.error_rate_floor is not None:
        changes["error_rate_floor"] = thresholds.error_rate_floor
    tolerances = dict(defaults.tolerances)
    for name, value in (
        (LATENCY, thresholds.latency_tolerance),
        ("cpu_percent", thresholds.cpu_tolerance),
        ("memory_percent", thresholds.memory_tolerance),
    ):
        if value is not None:
            tolerances[name] = value
    latencies = baseline.distributions.get(LATENCY)
    if latencies and latency_floor_ms > 0:
        median = statistics.median(latencies)
        if median > 0:
            # A few milliseconds on a fast health endpoint is noise, whatever its share.
            relative = tolerances.get(LATENCY, defaults.tolerance)
            tolerances[LATENCY] = max(relative, latency_floor_ms / median)
    changes["tolerances"] = tolerances
    return defaults.model_copy(update=changes)


def summary(samples: Samples) -> dict[str, Any]:
    """Per metric: n and the summary value (rate, median, or up) — the detail's baseline."""
    found: dict[str, Any] = {}
    for name, counts in samples.rates.items():
        rate = counts.events / counts.exposure if counts.exposure > 0 else None
        found[name] = {
            "kind": "rate",
            "events": counts.events,
            "exposure": counts.exposure,
            "value": rate,
        }
    for name, values in samples.distributions.items():
        found[name] = {
            "kind": "distribution",
            "n": len(values),
            "value": statistics.median(values) if values else None,
        }
    for name, up in samples.health.items():
        found[name] = {"kind": "binary", "n": 1, "value": 1.0 if up else 0.0}
    return found
