"""What people ask of agents: run or test a declared action, switch self-healing, reset or
force open a breaker. Each is one transaction that issues commands and writes its audit record
(refusals included); the agents' long-polls are woken after the commit."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from bounceback.api import audit
from bounceback.api.agent_wire import BreakerState, CommandKind
from bounceback.api.agents import breakers, commands, desired, store
from bounceback.api.agents.breakers import CircuitId
from bounceback.api.agents.commands import CommandSignal
from bounceback.api.clock import Clock
from bounceback.api.errors import ApiError, Invalid, NotFound
from bounceback.api.store.db import Database
from bounceback.api.store.tables import agents
from bounceback.api.store.tables import breakers as breaker_rows


@dataclass
class _Outcome:
    """What one action did: its commands, and the error to raise once the audit is committed."""

    commands: list[dict[str, Any]]
    error: ApiError | None = None
    details: dict[str, Any] | None = None


Step = Callable[[AsyncConnection, datetime], Awaitable[_Outcome]]


class FleetActions:
    def __init__(self, db: Database, clock: Clock, signal: CommandSignal) -> None:
        self._db = db
        self._clock = clock
        self._signal = signal

    async def _act(self, actor: str, action: str, target: str, step: Step) -> _Outcome:
        now = self._clock.now()
        async with self._db.transaction() as conn:
            outcome = await step(conn, now)
            result = "ok"
            if outcome.error is not None:
                result = "not_found" if isinstance(outcome.error, NotFound) else "refused"
            details = {
                "commands": [command["id"] for command in outcome.commands],
                **(outcome.details or {}),
            }
            if outcome.error is not None:
                details["reason"] = outcome.error.message
            await audit.record(
                conn,
                at=now,
                actor=actor,
                action=action,
                target=target,
                outcome=result,
                details=details,
            )
        if outcome.error is not None:
            raise outcome.error
        self._signal.notify({command["host"] for command in outcome.commands})
        return outcome

    async def force(
        self, host: str, action: str, *, dry_run: bool, reason: str | None, actor: str
    ) -> dict[str, Any]:
        """Have ``host`` run (or, with ``dry_run``, test) one of the actions it declared."""

        async def step(conn: AsyncConnection, now: datetime) -> _Outcome:
            agent = await store.get(conn, host)
            if agent is None:
                return _Outcome([], NotFound(f"no agent {host!r} has reported to this hub"))
            if action not in agent.actions:
                declared = ", ".join(agent.actions) or "none"
                message = f"agent {host!r} does not declare an action {action!r}"
                detail = {"field": "action", "message": f"{message}; declared: {declared}"}
                return _Outcome([], Invalid(message, [detail]))
            kind = CommandKind.TEST_ACTION if dry_run else CommandKind.RUN_ACTION
            issued = await commands.issue(
                conn,
                agent_id=host,
                kind=kind,
                target=action,
                params={"reason": reason} if reason else {},
                issued_by=actor,
                now=now,
            )
            return _Outcome([issued])

        outcome = await self._act(actor, "self_healing.force", f"agent:{host}", step)
        return outcome.commands[0]

    async def set_self_healing(
        self, enabled: bool, *, host: str | None, actor: str
    ) -> list[dict[str, Any]]:
        """Switch self-healing for one host, or for the fleet (which clears per-host choices)."""
        kind = CommandKind.ENABLE_SELF_HEALING if enabled else CommandKind.DISABLE_SELF_HEALING

        async def step(conn: AsyncConnection, now: datetime) -> _Outcome:
            if host is not None:
                agent = await store.get(conn, host, lock=True)
                if agent is None:
                    return _Outcome([], NotFound(f"no agent {host!r} has reported to this hub"))
                await store.update(conn, host, {"desired_self_healing": enabled})
                hosts = [host]
            else:
                await desired.set_switch(conn, desired.SELF_HEALING, enabled, actor, now)
                # One lock order for every fleet-wide change: no deadlocks between them.
                hosts = list(
                    await conn.scalars(
                        sa.select(agents.c.id).order_by(agents.c.id).with_for_update()
                    )
                )
                await conn.execute(agents.update().values(desired_self_healing=None))
            issued = [
                await commands.issue(conn, agent_id=name, kind=kind, issued_by=actor, now=now)
                for name in hosts
            ]
            return _Outcome(issued, details={"enabled": enabled})

        verb = "enable" if enabled else "disable"
        target = f"agent:{host}" if host is not None else "fleet"
        outcome = await self._act(actor, f"self_healing.{verb}", target, step)
        return outcome.commands

    async def breaker_command(
        self, circuit: CircuitId, kind: CommandKind, *, reason: str | None, actor: str
    ) -> dict[str, Any]:
        """Reset or force open one circuit: a command to the agent that owns it."""

        async def step(conn: AsyncConnection, now: datetime) -> _Outcome:
            if await breakers.get_circuit(conn, circuit) is None:
                return _Outcome([], NotFound(f"circuit {circuit} does not exist"))
            issued = await commands.issue(
                conn,
                agent_id=circuit.agent_id,
                kind=kind,
                target=circuit.dependency,
                params={"reason": reason} if reason else {},
                issued_by=actor,
                now=now,
            )
            return _Outcome([issued])

        action = "circuit.reset" if kind == CommandKind.RESET_BREAKER else "circuit.force_open"
        outcome = await self._act(actor, action, f"circuit:{circuit}", step)
        return outcome.commands[0]

    async def reset_all(self, *, host: str | None, actor: str) -> list[dict[str, Any]]:
        """Reset every circuit that is not closed (of one host, or of the fleet)."""

        async def step(conn: AsyncConnection, now: datetime) -> _Outcome:
            query = (
                sa.select(breaker_rows.c.agent_id, breaker_rows.c.dependency)
                .where(breaker_rows.c.state != BreakerState.CLOSED.value)
                .order_by(breaker_rows.c.agent_id, breaker_rows.c.dependency)
            )
            if host is not None:
                query = query.where(breaker_rows.c.agent_id == host)
            circuits = (await conn.execute(query)).all()
            issued = [
                await commands.issue(
                    conn,
                    agent_id=agent_id,
                    kind=CommandKind.RESET_BREAKER,
                    target=dependency,
                    issued_by=actor,
                    now=now,
                )
                for agent_id, dependency in circuits
            ]
            return _Outcome(issued)

        target = f"agent:{host}" if host is not None else "fleet"
        outcome = await self._act(actor, "circuit.reset_all", target, step)
        return outcome.commands
