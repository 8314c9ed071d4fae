"""``GET /api/agents/{id}/commands?wait=N``: answer at once with pending commands, or wait for one.

A waiting poll wakes when a command for its agent is committed on any replica (``CommandSignal``)
and also looks at the store now and then: every second when signals stay in this process (a
SQLite hub; commands written by other processes), every 10 seconds when they reach every replica
(PostgreSQL), as a safety net for signals lost while a replica reconnected. Waiting uses the
hub's clock, so tests can drive it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta

from bounceback.api import audit
from bounceback.api.agent_wire import AgentCommand
from bounceback.api.agents import commands
from bounceback.api.agents.commands import CommandSignal
from bounceback.api.clock import Clock
from bounceback.api.store.db import Database

MAX_WAIT_SECONDS = 30.0
RECHECK = timedelta(seconds=1)
RECHECK_SHARED = timedelta(seconds=10)


async def _never_gone() -> bool:
    return False


class CommandDelivery:
    def __init__(self, db: Database, clock: Clock, signal: CommandSignal) -> None:
        self._db = db
        self._clock = clock
        self._signal = signal
        self._recheck = RECHECK_SHARED if signal.shared else RECHECK

    async def poll(
        self,
        agent_id: str,
        wait: float,
        *,
        actor: str,
        gone: Callable[[], Awaitable[bool]] = _never_gone,
    ) -> list[AgentCommand]:
        """Pending commands for the agent, marked delivered; [] when ``wait`` seconds pass first.

        ``gone`` tells whether the caller hung up: a command is never handed to a closed socket.
        """
        deadline = self._clock.now() + timedelta(seconds=min(wait, MAX_WAIT_SECONDS))
        first = True
        while True:
            # Watch before looking, so a command committed in between still wakes us.
            wake = self._signal.watch(agent_id)
            if not first and await gone():
                return []
            first = False
            if await self._has_pending(agent_id):
                found = await self._claim(agent_id, actor)
                if found:
                    return found
            now = self._clock.now()
            if now >= deadline:
                return []
            await self._clock.sleep_until(min(deadline, now + self._recheck), wake)

    async def _has_pending(self, agent_id: str) -> bool:
        # A read first: idle polls must not queue for SQLite's single writer.
        async with self._db.read() as conn:
            return await commands.has_pending(conn, agent_id)

    async def _claim(self, agent_id: str, actor: str) -> list[AgentCommand]:
        now = self._clock.now()
        async with self._db.transaction() as conn:
            found = await commands.claim(conn, agent_id, now)
            if found:
                await audit.record(
                    conn,
                    at=now,
                    actor=actor,
                    action="agent.commands.deliver",
                    target=f"agent:{agent_id}",
                    details={"commands": [command.id for command in found]},
                )
        return found
