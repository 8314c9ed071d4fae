"""Signals between hub replicas over PostgreSQL LISTEN/NOTIFY (the ``Transport`` of
``api/signals.py``).

One dedicated connection per replica listens on the store's channel (one per schema, so hubs on
other schemas of the same server never hear each other) and sends this replica's signals with
``pg_notify``, a batch per round trip. Each payload names its sender; a replica ignores its own
echo, having delivered its signals locally already. When the connection is lost (the server
restarted, a failover, a network cut, or an idle link that stopped answering the periodic
ping), it reconnects with backoff and reports a resync: signals sent meanwhile may be lost,
those queued here are sent once it is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

from bounceback.api.signals import CHANGES, Deliver

log = logging.getLogger("bounceback.signals")

Connect = Callable[[str], Awaitable[Any]]
MAX_PAYLOAD = 7900  # PostgreSQL refuses NOTIFY payloads of 8000 bytes or more
# Signals for dashboards may wait this long to share one NOTIFY with the next few.
LINGER = {CHANGES: 0.05}


def channel_name(schema: str | None) -> str:
    name = f"bounceback_{schema}" if schema else "bounceback"
    if len(name) > 63:  # PostgreSQL would truncate a longer identifier
        name = "bounceback_" + hashlib.sha256(name.encode()).hexdigest()[:40]
    return name


def asyncpg_dsn(sqlalchemy_url: str) -> str:
    return make_url(sqlalchemy_url).set(drivername="postgresql").render_as_string(False)


async def _connect(dsn: str) -> Any:
    return await asyncpg.connect(dsn, timeout=10)


class PgNotify:
    def __init__(
        self,
        dsn: str,
        *,
        schema: str | None = None,
        connect: Connect = _connect,
        ping_every: float = 10.0,
        timeout: float = 5.0,
        backoff: tuple[float, float] = (0.1, 5.0),
    ) -> None:
        self.channel = channel_name(schema)
        self.origin = uuid.uuid4().hex[:12]
        self._dsn = dsn
        self._connect = connect
        self._ping_every = ping_every
        self._timeout = timeout
        self._backoff = backoff
        self._pending: dict[tuple[str, str], None] = {}  # ordered, each signal once
        self._wanted = asyncio.Event()
        self._drained = asyncio.Event()  # set while nothing waits to be sent
        self._drained.set()
        self._task: asyncio.Task[None] | None = None
        self._deliver: Deliver | None = None
        self._resync: Callable[[], None] | None = None
        self.connected = asyncio.Event()
        self.connections = 0  # how many times it (re)connected: for tests and metrics
        self.backend_pid: int | None = None  # the server process of the current connection

    async def start(self, deliver: Deliver, resync: Callable[[], None]) -> None:
        self._deliver, self._resync = deliver, resync
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"signals:{self.channel}")

    def send(self, channel: str, key: str) -> None:
        if len(key.encode()) > MAX_PAYLOAD - 100:
            key = "*"  # too long to carry: the other side looks at everything
        self._pending[(channel, key)] = None
        self._drained.clear()
        self._wanted.set()

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is None:
            return
        if self.connected.is_set():
            # Let the signals of the last requests go out before the connection closes.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._drained.wait(), self._timeout)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    # The connection's life ---------------------------------------------------------------

    async def _run(self) -> None:
        delay = self._backoff[0]
        while True:
            try:
                conn = await self._connect(self._dsn)
            except Exception as exc:
                log.warning("signals: cannot connect (%s); retrying in %.1f s", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._backoff[1])
                continue
            delay = self._backoff[0]
            try:
                await self._serve(conn)
            except Exception as exc:
                log.warning("signals: connection lost (%s); reconnecting", exc)
            finally:
                self.connected.clear()
                await self._close(conn)

    async def _serve(self, conn: Any) -> None:
        lost = asyncio.Event()
        conn.add_termination_listener(lambda _conn: lost.set())
        await conn.add_listener(self.channel, self._received)
        self.connections += 1
        self.backend_pid = conn.get_server_pid()
        self.connected.set()
        # Whatever other replicas signalled before this LISTEN (or while the last connection
        # was down) is gone: everyone here looks at the store again.
        if self._resync is not None:
            self._resync()
        while not lost.is_set():
            if self._pending:
                await self._flush(conn)
                continue
            waiting = asyncio.ensure_future(self._wanted.wait())
            dropped = asyncio.ensure_future(lost.wait())
            try:
                await asyncio.wait(
                    [waiting, dropped],
                    timeout=self._ping_every,
                    return_when=asyncio.FIRST_COMPLETED,
                )
            finally:
                waiting.cancel()
                dropped.cancel()
            if not self._wanted.is_set() and not lost.is_set():
                await conn.fetchval("SELECT 1", timeout=self._timeout)  # is anyone there?
        raise ConnectionResetError("the listening connection was closed")

    async def _flush(self, conn: Any) -> None:
        if all(channel in LINGER for channel, _ in self._pending):
            await asyncio.sleep(max(LINGER[channel] for channel, _ in self._pending))
        batch = list(self._pending)
        self._pending.clear()
        self._wanted.clear()
        payloads = [json.dumps([self.origin, channel, key]) for channel, key in batch]
        try:
            await conn.execute(
                "SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p",
                self.channel,
                payloads,
                timeout=self._timeout,
            )
        except BaseException:
            # Not sent: keep them, ahead of anything queued since, for the next connection.
            self._pending = dict.fromkeys(batch) | self._pending
            self._wanted.set()
            raise
        if not self._pending:
            self._drained.set()

    def _received(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        try:
            origin, channel, key = json.loads(payload)
        except (ValueError, TypeError):
            log.warning("signals: ignored a malformed payload on %s", self.channel)
            return
        if origin != self.origin and self._deliver is not None:
            self._deliver(str(channel), str(key))

    async def _close(self, conn: Any) -> None:
        try:
            await asyncio.wait_for(conn.close(), self._timeout)
        except Exception:
            conn.terminate()


def transport_for(url: str, schema: str | None) -> PgNotify | None:
    """LISTEN/NOTIFY for a PostgreSQL store; None for SQLite (one process, nothing to tell)."""
    if make_url(url).get_backend_name() != "postgresql":
        return None
    return PgNotify(asyncpg_dsn(url), schema=schema)
