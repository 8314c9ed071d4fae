"""What the store knows, read for one scrape: a handful of aggregate queries in one read
transaction, so every replica reports the same fleet-wide figures."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement

from bounceback.api.deployments.config import DEGRADATION_RANK, DegradationLevel
from bounceback.api.store import tables as t

# Seconds from an incident's creation to its acknowledgement or resolution.
RESPONSE_BUCKETS = (30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0, 14400.0,
                    28800.0, 86400.0, 259200.0)  # fmt: skip
MTTR_WINDOW = timedelta(hours=24)


@dataclass(frozen=True)
class Histogram:
    """Cumulative bucket counts (le → count, ending with +Inf), the sum and the count."""

    buckets: tuple[tuple[float, int], ...]
    total: float
    count: int


@dataclass(frozen=True)
class StoreSnapshot:
    incidents: dict[tuple[str, str], int]  # (state, severity) → count
    time_to_acknowledge: Histogram
    time_to_resolve: Histogram
    recovery_attempts: dict[str, int]  # state → count
    recovery_succeeded: int  # episodes that ended in success, all time
    recovery_seconds: float  # their summed durations
    mttr_window_seconds: float | None  # mean over the last MTTR_WINDOW; None without any
    self_healing_attempts: dict[str, int]  # outcome → count
    breakers: list[tuple[str, str, str]]  # (host, dependency, state)
    degradation_level: DegradationLevel
    notifications: dict[tuple[str, str], int]  # (channel, state) → count
    escalations_overdue: int
    oldest_overdue_seconds: float
    agents: int
    silent_agents: int

    @property
    def degradation_rank(self) -> int:
        return DEGRADATION_RANK[self.degradation_level]


def seconds_between(
    dialect: str, start: sa.ColumnElement[datetime], end: sa.ColumnElement[datetime]
) -> ColumnElement[Any]:
    if dialect == "sqlite":  # naive UTC text: julianday() reads it
        return (sa.func.julianday(end) - sa.func.julianday(start)) * 86400.0
    return sa.extract("epoch", end - start)


def _histogram_columns(
    name: str, seconds: ColumnElement[float], present: ColumnElement[bool]
) -> list[sa.Label[float]]:
    columns = [
        sa.func.sum(sa.case((sa.and_(present, seconds <= bound), 1), else_=0)).label(
            f"{name}_{index}"
        )
        for index, bound in enumerate(RESPONSE_BUCKETS)
    ]
    columns.append(sa.func.sum(sa.case((present, seconds), else_=0.0)).label(f"{name}_sum"))
    columns.append(sa.func.sum(sa.case((present, 1), else_=0)).label(f"{name}_count"))
    return columns


def _histogram(values: sa.RowMapping, name: str) -> Histogram:
    count = int(values[f"{name}_count"] or 0)
    buckets = [
        (bound, int(values[f"{name}_{index}"] or 0)) for index, bound in enumerate(RESPONSE_BUCKETS)
    ]
    buckets.append((float("inf"), count))
    return Histogram(tuple(buckets), float(values[f"{name}_sum"] or 0.0), count)


async def _grouped(conn: AsyncConnection, *columns: sa.ColumnElement[str]) -> list[tuple[Any, ...]]:
    query = sa.select(*columns, sa.func.count()).group_by(*columns)
    return [tuple(row) for row in await conn.execute(query)]


async def read(conn: AsyncConnection, now: datetime, level: DegradationLevel) -> StoreSnapshot:
    dialect = conn.dialect.name
    inc = t.incidents.c
    responses = (
        await conn.execute(
            sa.select(
                *_histogram_columns(
                    "ack",
                    seconds_between(dialect, inc.created_at, inc.acknowledged_at),
                    inc.acknowledged_at.is_not(None),
                ),
                *_histogram_columns(
                    "resolve",
                    seconds_between(dialect, inc.created_at, inc.resolved_at),
                    inc.resolved_at.is_not(None),
                ),
            )
        )
    ).one()
    rec = t.recovery_attempts.c
    succeeded = rec.state == "succeeded"
    took = seconds_between(dialect, rec.episode_started_at, rec.finished_at)
    recent = sa.and_(succeeded, rec.finished_at >= now - MTTR_WINDOW)
    recovery = (
        await conn.execute(
            sa.select(
                sa.func.sum(sa.case((succeeded, 1), else_=0)),
                sa.func.sum(sa.case((succeeded, took), else_=0.0)),
                sa.func.avg(sa.case((recent, took), else_=None)),
            )
        )
    ).one()
    esc = t.escalations.c
    overdue = (
        await conn.execute(
            sa.select(sa.func.count(), sa.func.min(esc.next_step_at)).where(
                esc.status == "active", esc.next_step_at < now
            )
        )
    ).one()
    agents = (
        await conn.execute(sa.select(sa.func.count(), sa.func.count(t.agents.c.silent_since)))
    ).one()
    breakers = await conn.execute(
        sa.select(t.agents.c.hostname, t.breakers.c.dependency, t.breakers.c.state).join(
            t.agents, t.agents.c.id == t.breakers.c.agent_id
        )
    )
    oldest: datetime | None = overdue[1]
    return StoreSnapshot(
        incidents={
            (str(s), str(v)): int(n) for s, v, n in await _grouped(conn, inc.state, inc.severity)
        },
        time_to_acknowledge=_histogram(responses._mapping, "ack"),
        time_to_resolve=_histogram(responses._mapping, "resolve"),
        recovery_attempts={str(s): int(n) for s, n in await _grouped(conn, rec.state)},
        recovery_succeeded=int(recovery[0] or 0),
        recovery_seconds=float(recovery[1] or 0.0),
        mttr_window_seconds=None if recovery[2] is None else float(recovery[2]),
        self_healing_attempts={
            str(o): int(n) for o, n in await _grouped(conn, t.healing_attempts.c.outcome)
        },
        breakers=[(str(h), str(d), str(s)) for h, d, s in breakers],
        degradation_level=level,
        notifications={
            (str(c), str(s)): int(n)
            for c, s, n in await _grouped(conn, t.notifications.c.channel, t.notifications.c.state)
        },
        escalations_overdue=int(overdue[0] or 0),
        oldest_overdue_seconds=0.0 if oldest is None else (now - oldest).total_seconds(),
        agents=int(agents[0] or 0),
        silent_agents=int(agents[1] or 0),
    )
