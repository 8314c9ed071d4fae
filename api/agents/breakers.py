"""Circuit breakers as the agents report them, one per host and dependency.

A circuit's id is ``<agent id>:<dependency>``: agent ids cannot contain ':' and dependency
names cannot contain '/', so the id is one URL path segment that splits one way only.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from bounceback.api.agent_wire import AGENT_ID_PATTERN, BreakerState, BreakerStatus
from bounceback.api.agents.store import upsert
from bounceback.api.agents.validate import NAME_LIMITS, clean, utc
from bounceback.api.store.tables import agents, breakers

_AGENT_ID = re.compile(AGENT_ID_PATTERN)


@dataclass(frozen=True)
class CircuitId:
    agent_id: str
    dependency: str

    def __str__(self) -> str:
        return f"{self.agent_id}:{self.dependency}"


def parse_circuit_id(raw: str) -> CircuitId | None:
    agent_id, sep, dependency = raw.partition(":")
    if not sep or not _AGENT_ID.fullmatch(agent_id):
        return None
    if not 1 <= len(dependency) <= NAME_LIMITS["dependency"] or "/" in dependency:
        return None
    return CircuitId(agent_id, dependency)


@dataclass(frozen=True)
class Stored:
    state: str
    changed_at: datetime | None


def changed_at(
    stored: Stored | None, status: BreakerStatus, now: datetime, transition_at: datetime | None
) -> datetime | None:
    """When the breaker last changed state, as far as the hub knows."""
    if transition_at is not None:
        return transition_at
    if stored is not None and stored.state == status.state.value:
        return stored.changed_at
    if stored is None and status.state == BreakerState.CLOSED:
        return None  # closed since before the hub heard of it
    return utc(status.opened_at) if status.opened_at else now


async def stored_states(conn: AsyncConnection, agent_id: str) -> dict[str, Stored]:
    rows = await conn.execute(
        sa.select(breakers.c.dependency, breakers.c.state, breakers.c.changed_at).where(
            breakers.c.agent_id == agent_id
        )
    )
    return {row.dependency: Stored(row.state, row.changed_at) for row in rows}


async def record(
    conn: AsyncConnection,
    agent_id: str,
    status: BreakerStatus,
    now: datetime,
    known: dict[str, Stored],
    *,
    transition_at: datetime | None = None,
) -> None:
    """Upsert one breaker's state; ``known`` (the stored states) is kept up to date."""
    when = changed_at(known.get(status.dependency), status, now, transition_at)
    values: dict[str, Any] = clean(
        {
            "kind": status.kind,
            "state": status.state.value,
            "failures": status.failures,
            "successes": status.successes,
            "opened_at": utc(status.opened_at) if status.opened_at else None,
            "changed_at": when,
            "updated_at": now,
        }
    )
    await conn.execute(
        upsert(conn, breakers)
        .values(agent_id=agent_id, dependency=status.dependency, **values)
        .on_conflict_do_update(index_elements=["agent_id", "dependency"], set_=values)
    )
    known[status.dependency] = Stored(status.state.value, when)


async def replace(
    conn: AsyncConnection,
    agent_id: str,
    statuses: Iterable[BreakerStatus],
    now: datetime,
    known: dict[str, Stored],
) -> None:
    """The agent's complete set of breakers: upsert each, forget the ones it no longer has."""
    names = []
    for status in statuses:
        await record(conn, agent_id, status, now, known)
        names.append(status.dependency)
    await conn.execute(
        breakers.delete().where(
            breakers.c.agent_id == agent_id, breakers.c.dependency.not_in(names)
        )
    )


def view(row: Any) -> dict[str, Any]:
    def iso(value: datetime | None) -> str | None:
        return value.isoformat() if value else None

    return {
        "id": str(CircuitId(row.agent_id, row.dependency)),
        "host": row.agent_id,
        "hostname": row.hostname,
        "dependency": row.dependency,
        "kind": row.kind,
        "state": row.state,
        "failures": row.failures,
        "successes": row.successes,
        "opened_at": iso(row.opened_at),
        "changed_at": iso(row.changed_at),
        "updated_at": iso(row.updated_at),
        "host_silent": row.silent_since is not None,
    }


def _joined() -> sa.Select[Any]:
    return sa.select(*breakers.c, agents.c.hostname, agents.c.silent_since).join_from(
        breakers, agents, breakers.c.agent_id == agents.c.id
    )


async def list_circuits(
    conn: AsyncConnection,
    *,
    state: BreakerState | None = None,
    host: str | None = None,
    kind: str | None = None,
) -> list[dict[str, Any]]:
    query = _joined().order_by(breakers.c.agent_id, breakers.c.dependency)
    if state is not None:
        query = query.where(breakers.c.state == state.value)
    if host is not None:
        query = query.where(breakers.c.agent_id == host)
    if kind is not None:
        query = query.where(breakers.c.kind == kind)
    return [view(row) for row in await conn.execute(query)]


async def get_circuit(conn: AsyncConnection, circuit: CircuitId) -> dict[str, Any] | None:
    row = (
        await conn.execute(
            _joined().where(
                breakers.c.agent_id == circuit.agent_id,
                breakers.c.dependency == circuit.dependency,
            )
        )
    ).first()
    return view(row) if row is not None else None


async def counts(conn: AsyncConnection) -> dict[str, Any]:
    rows = await conn.execute(
        sa.select(breakers.c.state, sa.func.count()).group_by(breakers.c.state)
    )
    by_state = {state.value: 0 for state in BreakerState}
    by_state.update({state: count for state, count in rows})
    hosts = await conn.scalar(sa.select(sa.func.count(sa.distinct(breakers.c.agent_id))))
    return {"total": sum(by_state.values()), "by_state": by_state, "hosts": hosts or 0}
