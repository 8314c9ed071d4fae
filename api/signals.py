"""Named wake-ups that reach every hub replica: "a command for agent web-1 was committed",
"new scheduled work", "incidents changed".

A signal carries no data beyond its channel and a short key; whoever wakes reads the store. So a
lost or repeated signal costs at most a late or an extra look, never a wrong answer: the periodic
looks that every waiter keeps (a long-poll's recheck, the scheduler's poll) stay as the safety
net. Publish only after the change is committed.

In one process (SQLite) signals go straight to local subscribers. With a ``transport`` (the
PostgreSQL LISTEN/NOTIFY one in ``store/listen.py``) they also go to every other replica; each
replica delivers its own signals locally at once and ignores their echo. When the transport had
to reconnect, signals may have been missed meanwhile: every subscriber then gets ``RESYNC`` and
every waiting ``event`` is set, so that they look at the store again.

    signals.publish(AGENT_COMMANDS, "web-1")              # after the commit
    wake = signals.event(AGENT_COMMANDS, "web-1")          # one-shot asyncio.Event
    async with signals.subscribe(CHANGES) as changes:      # async iterator of key sets
        async for topics in changes:                       # frozenset({"incident", "agent"})
            ...
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from typing import Protocol

log = logging.getLogger("bounceback.signals")

AGENT_COMMANDS = "agent_commands"  # key: the agent id; wakes its long-polls
WORK = "work"  # key: ""; new scheduled work was committed, wakes every scheduler
# key: a topic, the first word of an audit action or a scheduled work kind ("incident",
# "alert", "agent", "escalation", "notify", "deployment", …); for dashboards' live updates.
CHANGES = "changes"
RESYNC = "*"  # the key every subscriber gets after signals may have been missed

Deliver = Callable[[str, str], None]


class Transport(Protocol):
    """Carries signals to the other replicas (and theirs to this one)."""

    async def start(self, deliver: Deliver, resync: Callable[[], None]) -> None:
        """Begin; ``deliver(channel, key)`` for each signal of another replica, ``resync()``
        after any gap in which signals may have been lost."""
        ...

    def send(self, channel: str, key: str) -> None:
        """Queue a signal for the other replicas (sent soon, in order, coalesced)."""
        ...

    async def stop(self) -> None: ...


class Subscription:
    """The keys published on one channel since the last read, coalesced into sets."""

    def __init__(self) -> None:
        self._keys: set[str] = set()
        self._ready = asyncio.Event()

    def _add(self, key: str) -> None:
        self._keys.add(key)
        self._ready.set()

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> frozenset[str]:
        # Cancelling this wait (a timeout for a keep-alive) loses nothing.
        await self._ready.wait()
        keys, self._keys = frozenset(self._keys), set()
        self._ready.clear()
        return keys


class Signals:
    def __init__(self, transport: Transport | None = None) -> None:
        self._transport = transport
        self._listeners: dict[str, list[Callable[[str], None]]] = {}
        self._events: dict[tuple[str, str], asyncio.Event] = {}

    @property
    def shared(self) -> bool:
        """Whether signals reach other replicas (then waiters may look at the store less)."""
        return self._transport is not None

    async def start(self) -> None:
        if self._transport is not None:
            await self._transport.start(self._deliver, self._resync)

    async def stop(self) -> None:
        if self._transport is not None:
            await self._transport.stop()

    def publish(self, channel: str, key: str = "") -> None:
        """Wake this replica's and every other replica's waiters on ``(channel, key)``."""
        self._deliver(channel, key)
        if self._transport is not None:
            self._transport.send(channel, key)

    def publish_many(self, channel: str, keys: Iterable[str]) -> None:
        for key in keys:
            self.publish(channel, key)

    def on(self, channel: str, callback: Callable[[str], None]) -> Callable[[], None]:
        """Call ``callback(key)`` for each signal on ``channel``; returns the way to stop."""
        listeners = self._listeners.setdefault(channel, [])
        listeners.append(callback)

        def stop() -> None:
            if callback in listeners:
                listeners.remove(callback)

        return stop

    def event(self, channel: str, key: str) -> asyncio.Event:
        """An event set by the next signal on ``(channel, key)`` (or a resync); then forgotten.

        Take it *before* looking at the store, so that a change committed in between still
        sets it."""
        return self._events.setdefault((channel, key), asyncio.Event())

    @asynccontextmanager
    async def subscribe(self, channel: str) -> AsyncIterator[Subscription]:
        subscription = Subscription()
        stop = self.on(channel, subscription._add)
        try:
            yield subscription
        finally:
            stop()

    def _deliver(self, channel: str, key: str) -> None:
        event = self._events.pop((channel, key), None)
        if event is not None:
            event.set()
        for callback in list(self._listeners.get(channel, ())):
            try:
                callback(key)
            except Exception:
                log.exception("a listener of %s failed", channel)

    def _resync(self) -> None:
        events, self._events = self._events, {}
        for event in events.values():
            event.set()
        for channel in list(self._listeners):
            for callback in list(self._listeners[channel]):
                try:
                    callback(RESYNC)
                except Exception:
                    log.exception("a listener of %s failed", channel)
