"""The change feed behind the dashboard's live updates (``live`` sends it as server-sent events).

One task per hub process reads a *stamp* (the newest row id of each topic's table) every
``interval`` seconds while at least one page listens, and tells every listener which topics
moved. Reading the store rather than listening inside the process means a change made on any
replica reaches every replica's pages. A page refreshes itself only for the topics it shows.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from bounceback.api.store.db import Database
from bounceback.api.store.tables import (
    agent_events,
    agents,
    audit_log,
    breakers,
    degradation_events,
    deployment_events,
    healing_attempts,
    incident_events,
    notifications,
    recovery_attempts,
)

Stamp = dict[str, int]

TOPICS: dict[str, tuple[sa.ColumnElement[int], ...]] = {
    "incidents": (sa.func.max(incident_events.c.id), sa.func.max(notifications.c.id)),
    "audit": (sa.func.max(audit_log.c.id),),
    "agents": (sa.func.max(agent_events.c.id), sa.func.count(agents.c.id)),
    "recovery": (sa.func.max(recovery_attempts.c.id), sa.func.max(healing_attempts.c.id)),
    "breakers": (
        sa.func.count(breakers.c.agent_id),
        sa.func.count(breakers.c.agent_id).filter(breakers.c.state != "closed"),
    ),
    "deployments": (sa.func.max(deployment_events.c.id),),
    "degradation": (sa.func.max(degradation_events.c.id),),
}


async def read_stamp(conn: AsyncConnection) -> Stamp:
    stamp: Stamp = {}
    for topic, columns in TOPICS.items():
        total = 0
        for column in columns:
            total = total * 1_000_003 + int(await conn.scalar(sa.select(column)) or 0)
        stamp[topic] = total
    return stamp


def moved(before: Mapping[str, int], after: Mapping[str, int]) -> list[str]:
    return sorted(topic for topic, value in after.items() if before.get(topic) != value)


class ChangeFeed:
    def __init__(self, db: Database, interval: float) -> None:
        self._db = db
        self._interval = interval
        self._listeners: set[asyncio.Queue[list[str] | None]] = set()
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._closed = False

    def poke(self) -> None:
        """Read the stamp now (a change made in this process)."""
        self._wake.set()

    @contextlib.asynccontextmanager
    async def listen(self) -> AsyncIterator[asyncio.Queue[list[str] | None]]:
        queue: asyncio.Queue[list[str] | None] = asyncio.Queue(maxsize=16)
        if self._closed:
            queue.put_nowait(None)
        self._listeners.add(queue)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run())
        try:
            yield queue
        finally:
            self._listeners.discard(queue)

    def close(self) -> None:
        """End every stream (the hub is stopping)."""
        self._closed = True
        for queue in list(self._listeners):
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(None)

    async def _run(self) -> None:
        async with self._db.read() as conn:
            last = await read_stamp(conn)
        while self._listeners and not self._closed:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._interval)
            self._wake.clear()
            async with self._db.read() as conn:
                now = await read_stamp(conn)
            topics = moved(last, now)
            last = now
            if topics:
                for queue in list(self._listeners):
                    with contextlib.suppress(asyncio.QueueFull):
                        queue.put_nowait(topics)
