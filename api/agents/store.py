"""The agents table and the raw event log: registration, locking, idempotent event insertion."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from bounceback.api.agent_wire import AgentEvent, AgentReport
from bounceback.api.agents.validate import clean, jsonable, utc
from bounceback.api.store.tables import agent_events, agents


def upsert(conn: AsyncConnection, table: sa.Table) -> Any:
    """``INSERT`` with the dialect's ``ON CONFLICT`` clauses available."""
    dialect_insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    return dialect_insert(table)


@dataclass(frozen=True)
class AgentRow:
    id: str
    hostname: str
    version: str
    interval_seconds: float
    self_healing_enabled: bool
    desired_self_healing: bool | None
    dry_run: bool
    actions: list[str]
    last_metrics: dict[str, float | None]
    last_metrics_at: datetime | None
    last_checks: list[dict[str, Any]]
    last_checks_at: datetime | None
    first_seen: datetime
    last_seen: datetime
    last_seq: int
    reports: int
    events_lost: int
    silent_since: datetime | None
    silence_check: int
    silence_due: datetime | None


def _row(row: Any) -> AgentRow:
    return AgentRow(**row._mapping)


async def get(conn: AsyncConnection, agent_id: str, *, lock: bool = False) -> AgentRow | None:
    """One agent; with ``lock``, held until commit (reports of one agent apply one at a time)."""
    query = sa.select(agents).where(agents.c.id == agent_id)
    if lock:
        query = query.with_for_update()
    row = (await conn.execute(query)).first()
    return _row(row) if row is not None else None


async def lock_many(conn: AsyncConnection, agent_ids: Sequence[str]) -> dict[str, AgentRow]:
    """The agents among ``agent_ids``, locked until commit in id order (so that two replicas
    locking overlapping sets never wait on each other in a circle)."""
    if not agent_ids:
        return {}
    query = (
        sa.select(agents)
        .where(agents.c.id.in_(sorted(agent_ids)))
        .order_by(agents.c.id)
        .with_for_update()
    )
    return {row.id: _row(row) for row in await conn.execute(query)}


async def list_all(conn: AsyncConnection, agent_id: str | None = None) -> list[AgentRow]:
    query = sa.select(agents).order_by(agents.c.id)
    if agent_id is not None:
        query = query.where(agents.c.id == agent_id)
    return [_row(row) for row in await conn.execute(query)]


async def register(
    conn: AsyncConnection, agent_id: str, report: AgentReport, now: datetime
) -> None:
    """Add the agent on its first report (no-op when another replica just did)."""
    values = {
        "id": agent_id,
        **describe(report),
        "desired_self_healing": None,
        "last_metrics": {},
        "last_checks": [],
        "first_seen": now,
        "last_seen": now,
        "last_seq": 0,
        "reports": 0,
        "events_lost": 0,
        "silence_check": 0,
    }
    await conn.execute(upsert(conn, agents).values(values).on_conflict_do_nothing())


def describe(report: AgentReport) -> dict[str, Any]:
    """The agent's self-description that every report carries."""
    values: dict[str, Any] = clean(
        {
            "hostname": report.hostname,
            "version": report.version,
            "interval_seconds": report.interval_seconds,
            "self_healing_enabled": report.self_healing_enabled,
            "dry_run": report.dry_run,
        }
    )
    values["actions"] = sorted(set(clean(report.actions)))
    return values


async def update(conn: AsyncConnection, agent_id: str, values: dict[str, Any]) -> None:
    await conn.execute(agents.update().where(agents.c.id == agent_id).values(values))


async def update_many(conn: AsyncConnection, values: dict[str, dict[str, Any]]) -> None:
    """Each agent's own new values: one ``executemany`` per set of columns changed."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for agent_id, changed in values.items():
        columns = tuple(sorted(changed))
        groups.setdefault(columns, []).append({"agent_key": agent_id, **changed})
    for columns, rows in groups.items():
        statement = (
            agents.update()
            .where(agents.c.id == sa.bindparam("agent_key"))
            .values({column: sa.bindparam(column) for column in columns})
        )
        await conn.execute(statement, rows)


async def insert_events(
    conn: AsyncConnection, agent_id: str, events: Sequence[AgentEvent], now: datetime
) -> list[AgentEvent]:
    """Store the events the hub does not hold yet; returns those, in ``seq`` order."""
    return (await insert_events_many(conn, {agent_id: events}, now)).get(agent_id, [])


async def insert_events_many(
    conn: AsyncConnection, events: dict[str, Sequence[AgentEvent]], now: datetime
) -> dict[str, list[AgentEvent]]:
    """``insert_events`` for several agents at once (a few statements for all of them)."""
    unique: dict[tuple[str, int], AgentEvent] = {}
    for agent_id, theirs in events.items():
        for event in theirs:
            unique.setdefault((agent_id, event.seq), event)
    rows = [
        {
            "agent_id": agent_id,
            "seq": seq,
            "kind": event.kind,
            "at": utc(event.at),
            "received_at": now,
            "data": jsonable(event.model_dump(exclude={"kind", "seq", "at"})),
        }
        for (agent_id, seq), event in unique.items()
    ]
    accepted: set[tuple[str, int]] = set()
    if rows:
        # Many parameter sets for one statement: SQLAlchemy sends them as multi-row INSERTs of
        # its own (``insertmanyvalues``) with one compiled form, whatever the number of rows.
        statement = (
            upsert(conn, agent_events)
            .on_conflict_do_nothing(index_elements=["agent_id", "seq"])
            .returning(agent_events.c.agent_id, agent_events.c.seq)
        )
        accepted.update((row.agent_id, row.seq) for row in await conn.execute(statement, rows))
    fresh: dict[str, list[AgentEvent]] = {agent_id: [] for agent_id in events}
    for agent_id, seq in sorted(accepted):
        fresh[agent_id].append(unique[(agent_id, seq)])
    return fresh


async def breaker_transitions(
    conn: AsyncConnection, agent_id: str, dependency: str, *, limit: int = 20, scan: int = 500
) -> list[dict[str, Any]]:
    """The latest transitions of one breaker, newest first (from the agent's recent events)."""
    rows = await conn.execute(
        sa.select(agent_events.c.seq, agent_events.c.at, agent_events.c.data)
        .where(agent_events.c.agent_id == agent_id, agent_events.c.kind == "breaker")
        .order_by(agent_events.c.seq.desc())
        .limit(scan)
    )
    found: list[dict[str, Any]] = []
    for seq, at, data in rows:
        status = data.get("status") or {}
        if status.get("dependency") != dependency:
            continue
        found.append(
            {
                "seq": seq,
                "at": at.isoformat(),
                "from": data.get("previous"),
                "to": status.get("state"),
                "failures": status.get("failures"),
            }
        )
        if len(found) >= limit:
            break
    return found


def view(agent: AgentRow) -> dict[str, Any]:
    def iso(value: datetime | None) -> str | None:
        return value.isoformat() if value else None

    return {
        "id": agent.id,
        "hostname": agent.hostname,
        "version": agent.version,
        "interval_seconds": agent.interval_seconds,
        "self_healing_enabled": agent.self_healing_enabled,
        "desired_self_healing": agent.desired_self_healing,
        "dry_run": agent.dry_run,
        "actions": agent.actions,
        "first_seen": agent.first_seen.isoformat(),
        "last_seen": agent.last_seen.isoformat(),
        "last_seq": agent.last_seq,
        "reports": agent.reports,
        "events_lost": agent.events_lost,
        "silent": agent.silent_since is not None,
        "silent_since": iso(agent.silent_since),
    }


async def counts(conn: AsyncConnection) -> dict[str, int]:
    total, silent = (
        await conn.execute(sa.select(sa.func.count(), sa.func.count(agents.c.silent_since)))
    ).one()
    return {"total": total, "silent": silent}
