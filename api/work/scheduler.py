"""Runs scheduled work on time, once, and takes over the work of hub processes that died.

Handlers are registered per kind. A plain handler runs outside any transaction (it may call a
partner over the network) while the scheduler renews its lease; its effects must tolerate a retry
by another process if this one dies before finishing (use ``item.key`` as the idempotency key).
A *transactional* handler gets the connection of the transaction that also records its outcome,
after the lease was checked, so its database effects happen exactly once; when it raises, its
changes are rolled back and the work is retried.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from bounceback.api.clock import Clock
from bounceback.api.signals import CHANGES, WORK, Signals
from bounceback.api.store.db import Database
from bounceback.api.work import queue
from bounceback.api.work.policy import Decision, Fail, Outcome, Retry, backoff, decide, next_wake
from bounceback.api.work.queue import WorkItem, WorkState

__all__ = [
    "Fail",
    "Outcome",
    "PlainHandler",
    "Retry",
    "Scheduler",
    "TransactionalHandler",
    "backoff",
    "default_owner",
]

log = logging.getLogger("bounceback.work")


PlainHandler = Callable[[WorkItem], Awaitable[Outcome]]
TransactionalHandler = Callable[[WorkItem, AsyncConnection], Awaitable[Outcome]]


@dataclass(frozen=True)
class Registration:
    handler: PlainHandler | TransactionalHandler
    transactional: bool


def default_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Scheduler:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        *,
        owner: str | None = None,
        lease: timedelta = timedelta(seconds=30),
        poll: timedelta = timedelta(seconds=5),
        concurrency: int = 16,
        signals: Signals | None = None,
    ) -> None:
        self._db = db
        self._clock = clock
        self.owner = owner or default_owner()
        self._lease = lease
        self._poll = poll
        self._concurrency = concurrency
        self._handlers: dict[str, Registration] = {}
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._claiming = asyncio.Lock()
        self._running: set[asyncio.Task[None]] = set()
        self._task: asyncio.Task[None] | None = None
        self.completed = 0
        # New work committed on another replica wakes this one too (its due time may be sooner
        # than this loop's next look); finished work tells dashboards what changed.
        self._signals = signals
        if signals is not None:
            signals.on(WORK, lambda _key: self._wake.set())

    def register(self, kind: str, handler: PlainHandler) -> None:
        self._handlers[kind] = Registration(handler, transactional=False)

    def register_transactional(self, kind: str, handler: TransactionalHandler) -> None:
        self._handlers[kind] = Registration(handler, transactional=True)

    async def schedule(
        self,
        kind: str,
        key: str,
        due_at: datetime,
        payload: dict[str, object] | None = None,
        *,
        max_attempts: int = 5,
        conn: AsyncConnection | None = None,
    ) -> bool:
        """Add work and wake the loop for it; False when the key is already scheduled.

        Given ``conn``, the row is added in the caller's transaction and becomes visible only when
        that commits: call ``wake()`` after the commit, or the loop sees it at its next poll.
        """

        async def add(conn: AsyncConnection) -> bool:
            return await queue.schedule(
                conn,
                kind=kind,
                key=key,
                due_at=due_at,
                now=self._clock.now(),
                payload=payload,
                max_attempts=max_attempts,
            )

        if conn is not None:
            added = await add(conn)
        else:
            async with self._db.transaction() as own:
                added = await add(own)
        self.wake()
        return added

    def wake(self) -> None:
        """New work was committed: look for it here and on every other replica."""
        self._wake.set()
        if self._signals is not None:
            self._signals.publish(WORK)

    @property
    def alive(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        if self.alive:
            return
        self._stopping.clear()
        self._task = asyncio.create_task(self._run(), name=f"scheduler:{self.owner}")

    async def stop(self) -> None:
        """Stop claiming, let running work finish."""
        self._stopping.set()
        self._wake.set()
        if self._task is not None:
            await self._task
        await self.drain()

    async def run_once(self) -> int:
        """Claim what is due and start it; returns the number of items started."""
        async with self._claiming:
            free = self._concurrency - len(self._running)
            if free <= 0 or not self._handlers:
                return 0
            async with self._db.transaction() as conn:
                items = await queue.claim(
                    conn,
                    owner=self.owner,
                    now=self._clock.now(),
                    lease=self._lease,
                    limit=free,
                    kinds=list(self._handlers),
                )
            for item in items:
                task = asyncio.create_task(self._execute(item), name=f"work:{item.kind}:{item.id}")
                self._running.add(task)
                task.add_done_callback(self._running.discard)
            return len(items)

    async def drain(self) -> None:
        """Wait for the work started so far (tests call run_once, then drain)."""
        while self._running:
            await asyncio.wait(list(self._running))

    async def _run(self) -> None:
        while not self._stopping.is_set():
            self._wake.clear()
            pass_began = self._clock.now()
            try:
                started = await self.run_once()
                due = None
                if self._handlers:
                    async with self._db.read() as conn:
                        due = await queue.next_due(conn, list(self._handlers))
            except Exception:
                log.exception("scheduler pass failed; retrying")
                started, due = 0, None
            wake_at = next_wake(
                now=self._clock.now(),
                pass_began=pass_began,
                due=due,
                started=started,
                full=len(self._running) >= self._concurrency,
                poll=self._poll,
            )
            await self._clock.sleep_until(wake_at, self._wake)

    async def _execute(self, item: WorkItem) -> None:
        registration = self._handlers[item.kind]
        try:
            if registration.transactional:
                await self._execute_transactional(item, registration)
            else:
                await self._execute_plain(item, registration)
        except Exception:
            log.exception("work %s (%s) failed to finish", item.id, item.kind)
        finally:
            self._wake.set()
            if self._signals is not None:
                self._signals.publish(CHANGES, item.kind.partition(".")[0])

    async def _execute_transactional(self, item: WorkItem, registration: Registration) -> None:
        handler: TransactionalHandler = registration.handler  # type: ignore[assignment]
        try:
            async with self._db.transaction() as conn:
                if not await queue.holds_lease(conn, item):
                    log.warning(
                        "work %s: lease lost before it ran; another process has it", item.id
                    )
                    return
                decision = decide(item, await handler(item, conn), self._clock.now())
                await self._record(conn, item, decision)
        except Exception as exc:
            log.exception("work %s (%s) raised; its changes are rolled back", item.id, item.kind)
            await self._finish(item, Retry(f"{type(exc).__name__}: {exc}"))
            return
        self._recorded(item, decision, finished=True)

    async def _execute_plain(self, item: WorkItem, registration: Registration) -> None:
        handler: PlainHandler = registration.handler  # type: ignore[assignment]
        renewer = asyncio.create_task(self._keep_lease(item), name=f"lease:{item.id}")
        try:
            outcome = await handler(item)
        except Exception as exc:
            log.exception("work %s (%s) raised", item.id, item.kind)
            outcome = Retry(f"{type(exc).__name__}: {exc}")
        finally:
            renewer.cancel()
            await asyncio.wait([renewer])  # no renewal may race the finishing transaction
        await self._finish(item, outcome)

    async def _finish(self, item: WorkItem, outcome: Outcome) -> None:
        decision = decide(item, outcome, self._clock.now())
        async with self._db.transaction() as conn:
            finished = await self._record(conn, item, decision)
        self._recorded(item, decision, finished=finished)

    async def _record(self, conn: AsyncConnection, item: WorkItem, decision: Decision) -> bool:
        return await queue.finish(
            conn,
            item,
            now=self._clock.now(),
            state=decision.state,
            error=decision.error,
            retry_at=decision.retry_at,
        )

    def _recorded(self, item: WorkItem, decision: Decision, *, finished: bool) -> None:
        if not finished:
            log.warning("work %s (%s): lease lost; the result is dropped", item.id, item.kind)
        elif decision.state == WorkState.DONE:
            self.completed += 1

    async def _keep_lease(self, item: WorkItem) -> None:
        while True:
            await self._clock.sleep_until(self._clock.now() + self._lease / 3)
            try:
                async with self._db.transaction() as conn:
                    held = await queue.renew(conn, item, self._clock.now() + self._lease)
            except Exception:
                log.exception("work %s: renewing the lease failed; trying again", item.id)
                continue
            if not held:
                log.warning("work %s: lease lost while it runs", item.id)
                return
