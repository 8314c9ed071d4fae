"""Deployments in the store: rows, their timeline and their probes. No decisions here."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from bounceback.api.deployment_wire import (
    TERMINAL_STATES,
    DeploymentKind,
    DeploymentState,
    TimelineEntry,
)
from bounceback.api.store.tables import deployment_events, deployment_probes, deployments

_TERMINAL = [state.value for state in TERMINAL_STATES]


@dataclass(frozen=True)
class DeploymentRow:
    id: int
    target: str
    environment: str
    version: str
    previous_version: str | None
    kind: str
    rolls_back: int | None
    rolled_back_by: int | None
    state: str
    dry_run: bool
    monitored: bool
    repository: str | None
    github_deployment_id: int | None
    run_url: str | None
    actor: str
    created_at: datetime
    deployed_at: datetime | None
    finished_at: datetime | None
    updated_at: datetime
    stabilization_minutes: float
    monitoring_minutes: float
    health_urls: list[str]
    hosts: list[str]
    thresholds: dict[str, Any]
    rollback_requested: bool
    rollback_reason: str | None
    rollback_requested_by: str | None
    verdict: dict[str, Any] | None
    baseline: dict[str, Any]
    incident_id: int | None

    @property
    def terminal(self) -> bool:
        return self.state in _TERMINAL

    @property
    def is_rollback(self) -> bool:
        return self.kind == DeploymentKind.ROLLBACK.value


@dataclass(frozen=True)
class Filter:
    target: str | None = None
    environment: str | None = None
    state: DeploymentState | None = None
    active: bool = False


def _row(row: Any) -> DeploymentRow:
    return DeploymentRow(**row._mapping)


async def insert(conn: AsyncConnection, values: dict[str, Any]) -> int:
    new_id = await conn.scalar(deployments.insert().values(values).returning(deployments.c.id))
    assert isinstance(new_id, int)
    return new_id


async def get(
    conn: AsyncConnection, deployment_id: int, *, lock: bool = False
) -> DeploymentRow | None:
    query = sa.select(deployments).where(deployments.c.id == deployment_id)
    if lock:
        query = query.with_for_update()
    row = (await conn.execute(query)).first()
    return _row(row) if row is not None else None


async def update(conn: AsyncConnection, deployment_id: int, values: dict[str, Any]) -> None:
    await conn.execute(deployments.update().where(deployments.c.id == deployment_id).values(values))


async def add_event(
    conn: AsyncConnection,
    deployment_id: int,
    at: datetime,
    kind: str,
    message: str,
    details: dict[str, Any] | None = None,
) -> None:
    await conn.execute(
        deployment_events.insert().values(
            deployment_id=deployment_id, at=at, kind=kind, message=message, details=details or {}
        )
    )


async def timeline(conn: AsyncConnection, deployment_id: int) -> list[TimelineEntry]:
    rows = await conn.execute(
        sa.select(
            deployment_events.c.at,
            deployment_events.c.kind,
            deployment_events.c.message,
            deployment_events.c.details,
        )
        .where(deployment_events.c.deployment_id == deployment_id)
        .order_by(deployment_events.c.id)
    )
    return [TimelineEntry.model_validate(dict(row._mapping)) for row in rows]


def _where(query: sa.Select[Any], filters: Filter) -> sa.Select[Any]:
    if filters.target is not None:
        query = query.where(deployments.c.target == filters.target)
    if filters.environment is not None:
        query = query.where(deployments.c.environment == filters.environment)
    if filters.state is not None:
        query = query.where(deployments.c.state == filters.state.value)
    if filters.active:
        query = query.where(deployments.c.state.not_in(_TERMINAL))
    return query


async def page(
    conn: AsyncConnection, filters: Filter, *, before_id: int | None, limit: int
) -> list[DeploymentRow]:
    query = _where(sa.select(deployments), filters).order_by(deployments.c.id.desc()).limit(limit)
    if before_id is not None:
        query = query.where(deployments.c.id < before_id)
    return [_row(row) for row in await conn.execute(query)]


async def latest(
    conn: AsyncConnection, target: str | None = None, environment: str | None = None
) -> DeploymentRow | None:
    found = await page(conn, Filter(target, environment), before_id=None, limit=1)
    return found[0] if found else None


async def open_deployments(
    conn: AsyncConnection, target: str, environment: str, *, lock: bool = False
) -> list[DeploymentRow]:
    query = _where(sa.select(deployments), Filter(target, environment, active=True)).order_by(
        deployments.c.id
    )
    if lock:
        query = query.with_for_update()
    return [_row(row) for row in await conn.execute(query)]


async def last_good_version(
    conn: AsyncConnection, target: str, environment: str, before_id: int | None
) -> str | None:
    """The version of the latest deployment of the target that succeeded, before ``before_id``.

    Dry runs do not count: nothing says their version was deployed (a dry-run ``full`` runs no
    deploy command), and a rollback must restore a version that really ran and passed."""
    query = (
        sa.select(deployments.c.version)
        .where(
            deployments.c.target == target,
            deployments.c.environment == environment,
            deployments.c.state == DeploymentState.SUCCEEDED.value,
            deployments.c.dry_run.is_(False),
        )
        .order_by(deployments.c.id.desc())
        .limit(1)
    )
    if before_id is not None:
        query = query.where(deployments.c.id < before_id)
    version: str | None = await conn.scalar(query)
    return version


async def failures_since(
    conn: AsyncConnection, target: str, environment: str, since: datetime
) -> list[DeploymentRow]:
    """Deployments that failed (rolled back or not) and finished at or after ``since``."""
    failed = [
        DeploymentState.FAILED.value,
        DeploymentState.ROLLING_BACK.value,
        DeploymentState.ROLLED_BACK.value,
    ]
    query = (
        sa.select(deployments)
        .where(
            deployments.c.target == target,
            deployments.c.environment == environment,
            deployments.c.kind == DeploymentKind.DEPLOY.value,
            deployments.c.state.in_(failed),
            deployments.c.finished_at >= since,
        )
        .order_by(deployments.c.id.desc())
    )
    return [_row(row) for row in await conn.execute(query)]


async def counts_since(conn: AsyncConnection, since: datetime) -> dict[str, int]:
    result = {state.value: 0 for state in DeploymentState}
    rows = await conn.execute(
        sa.select(deployments.c.state, sa.func.count())
        .where(deployments.c.created_at >= since)
        .group_by(deployments.c.state)
    )
    result.update({state: count for state, count in rows})
    return result


async def active_count(conn: AsyncConnection) -> int:
    count = await conn.scalar(
        sa.select(sa.func.count()).where(deployments.c.state.not_in(_TERMINAL))
    )
    return int(count or 0)


# -- probes -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Probe:
    at: datetime
    url_index: int
    ok: bool
    status: int | None
    latency_ms: float | None
    error: str | None
    round_number: int = 0  # as stored; the prober leaves it at 0


async def insert_probes(
    conn: AsyncConnection, deployment_id: int, round_number: int, probes: Sequence[Probe]
) -> None:
    if not probes:
        return
    dialect_insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    rows = []
    per_url: dict[int, int] = {}
    for probe in probes:
        n = per_url.get(probe.url_index, 0)
        per_url[probe.url_index] = n + 1
        rows.append(
            {
                "deployment_id": deployment_id,
                "round": round_number,
                "url_index": probe.url_index,
                "n": n,
                "at": probe.at,
                "ok": probe.ok,
                "status": probe.status,
                "latency_ms": probe.latency_ms,
                "error": probe.error,
            }
        )
    await conn.execute(
        dialect_insert(deployment_probes)
        .values(rows)
        .on_conflict_do_nothing(index_elements=["deployment_id", "round", "url_index", "n"])
    )


async def probes_between(
    conn: AsyncConnection, deployment_id: int, since: datetime | None, until: datetime | None
) -> list[Probe]:
    """Probes with ``since <= at < until`` (either bound open when None)."""
    c = deployment_probes.c
    query = sa.select(c.at, c.url_index, c.ok, c.status, c.latency_ms, c.error, c.round).where(
        c.deployment_id == deployment_id
    )
    if since is not None:
        query = query.where(c.at >= since)
    if until is not None:
        query = query.where(c.at < until)
    rows = await conn.execute(query.order_by(c.id))
    return [Probe(*row) for row in rows]
