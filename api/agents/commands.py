"""Commands for agents: issued by people (or by reconciliation), handed over once, answered by
the agent's ``command_result`` event.

Hand-over is at most once: a command moves ``pending → delivered`` in the transaction that puts
it in a report's ack or a long-poll's answer, so two pollers never both get it and a restart is
never run twice. A command the agent never answers stays ``delivered``; issue it again.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from bounceback.api.agent_wire import AgentCommand, CommandKind, CommandResultEvent
from bounceback.api.agents.validate import clean, jsonable
from bounceback.api.signals import AGENT_COMMANDS, Signals
from bounceback.api.store.tables import agent_commands

_MAX_ID = 2**31 - 1  # the id column is a 32-bit integer on PostgreSQL
TOGGLES = (CommandKind.ENABLE_SELF_HEALING, CommandKind.DISABLE_SELF_HEALING)


class CommandState(StrEnum):
    PENDING = "pending"  # waiting for the agent to poll or report
    DELIVERED = "delivered"  # handed to the agent, no result yet
    DONE = "done"
    REFUSED = "refused"  # e.g. the action is not declared in the agent's own config
    FAILED = "failed"


OPEN_STATES = (CommandState.PENDING.value, CommandState.DELIVERED.value)


def wire(row: Any) -> AgentCommand:
    return AgentCommand(
        id=row.id,
        kind=CommandKind(row.kind),
        target=row.target,
        params=row.params,
        issued_by=row.issued_by,
        issued_at=row.issued_at,
    )


def view(row: Any) -> dict[str, Any]:
    """A command as the API shows it, with its state."""
    return {
        "id": row.id,
        "host": row.agent_id,
        "kind": row.kind,
        "target": row.target,
        "params": row.params,
        "issued_by": row.issued_by,
        "issued_at": row.issued_at.isoformat(),
        "state": row.state,
        "delivered_at": row.delivered_at.isoformat() if row.delivered_at else None,
        "finished_at": row.finished_at.isoformat() if row.finished_at else None,
        "result": row.result,
    }


async def issue(
    conn: AsyncConnection,
    *,
    agent_id: str,
    kind: CommandKind,
    issued_by: str,
    now: datetime,
    target: str | None = None,
    params: dict[str, Any] | None = None,
) -> dict[str, Any]:
    row = (
        await conn.execute(
            agent_commands.insert()
            .values(
                agent_id=agent_id,
                kind=kind.value,
                target=target,
                params=jsonable(params or {}),
                issued_by=issued_by,
                issued_at=now,
                state=CommandState.PENDING.value,
            )
            .returning(*agent_commands.c)
        )
    ).one()
    return view(row)


async def claim(conn: AsyncConnection, agent_id: str, now: datetime) -> list[AgentCommand]:
    """Hand over every pending command of the agent (marks them delivered)."""
    rows = await conn.execute(
        agent_commands.update()
        .where(
            agent_commands.c.agent_id == agent_id,
            agent_commands.c.state == CommandState.PENDING.value,
        )
        .values(state=CommandState.DELIVERED.value, delivered_at=now)
        .returning(*agent_commands.c)
    )
    return sorted((wire(row) for row in rows), key=lambda command: command.id)


async def claim_many(
    conn: AsyncConnection, agent_ids: list[str], now: datetime
) -> dict[str, list[AgentCommand]]:
    """``claim`` for several agents in one statement."""
    handed: dict[str, list[AgentCommand]] = {agent_id: [] for agent_id in agent_ids}
    if not agent_ids:
        return handed
    rows = await conn.execute(
        agent_commands.update()
        .where(
            agent_commands.c.agent_id.in_(agent_ids),
            agent_commands.c.state == CommandState.PENDING.value,
        )
        .values(state=CommandState.DELIVERED.value, delivered_at=now)
        .returning(*agent_commands.c)
    )
    for row in rows:
        handed[row.agent_id].append(wire(row))
    for commands in handed.values():
        commands.sort(key=lambda command: command.id)
    return handed


async def has_pending(conn: AsyncConnection, agent_id: str) -> bool:
    found = await conn.scalar(
        sa.select(agent_commands.c.id)
        .where(
            agent_commands.c.agent_id == agent_id,
            agent_commands.c.state == CommandState.PENDING.value,
        )
        .limit(1)
    )
    return found is not None


async def record_result(
    conn: AsyncConnection, agent_id: str, event: CommandResultEvent, now: datetime
) -> bool:
    """Apply the agent's answer to one of its own open commands; False for anything else."""
    if not 1 <= event.command_id <= _MAX_ID:
        return False
    result = await conn.execute(
        agent_commands.update()
        .where(
            agent_commands.c.id == event.command_id,
            agent_commands.c.agent_id == agent_id,
            agent_commands.c.state.in_(OPEN_STATES),
        )
        .values(state=event.outcome, finished_at=now, result=clean(event.message))
    )
    return bool(result.rowcount)


async def recent(
    conn: AsyncConnection,
    *,
    agent_id: str | None = None,
    target: str | None = None,
    limit: int = 20,
) -> list[dict[str, Any]]:
    query = sa.select(agent_commands).order_by(agent_commands.c.id.desc()).limit(limit)
    if agent_id is not None:
        query = query.where(agent_commands.c.agent_id == agent_id)
    if target is not None:
        query = query.where(agent_commands.c.target == target)
    return [view(row) for row in await conn.execute(query)]


async def last_toggle(conn: AsyncConnection, agent_id: str) -> Any | None:
    """The newest enable/disable command of the agent (a row), if any."""
    return (
        await conn.execute(
            sa.select(agent_commands)
            .where(
                agent_commands.c.agent_id == agent_id,
                agent_commands.c.kind.in_([kind.value for kind in TOGGLES]),
            )
            .order_by(agent_commands.c.id.desc())
            .limit(1)
        )
    ).first()


async def counts(conn: AsyncConnection) -> dict[str, int]:
    rows = await conn.execute(
        sa.select(agent_commands.c.state, sa.func.count()).group_by(agent_commands.c.state)
    )
    found = {state.value: 0 for state in CommandState}
    found.update({state: count for state, count in rows})
    return found


class CommandSignal:
    """Wakes the long-polls of agents whose commands were committed, on every replica that
    ``signals`` reaches (this process alone without a transport, as on SQLite)."""

    def __init__(self, signals: Signals | None = None) -> None:
        self._signals = signals or Signals()

    @property
    def shared(self) -> bool:
        return self._signals.shared

    def watch(self, agent_id: str) -> asyncio.Event:
        return self._signals.event(AGENT_COMMANDS, agent_id)

    def notify(self, agent_ids: set[str] | list[str]) -> None:
        self._signals.publish_many(AGENT_COMMANDS, agent_ids)
