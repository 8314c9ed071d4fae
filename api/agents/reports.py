"""``POST /api/agents/{id}/reports`` with group commit: answered after the commit, shared.

Each request hands its report to one writer task and waits. The writer takes what is queued (at
most one report per agent: an agent's next report waits for the following batch), applies it in
one transaction (``report_batch``) and answers every request only after the commit, so a 200
always means the events are stored, and concurrent agents share one commit and a few statements
instead of a transaction each. While agents report concurrently the writer lets requests gather
for a moment (GATHER_S) before it takes a batch. If a batch fails, each of its reports is tried
again alone, so one bad report never fails its neighbours.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque

from bounceback.api.agent_wire import AgentReport, ReportAck
from bounceback.api.agents import report_batch
from bounceback.api.agents.report_batch import Context, Incoming
from bounceback.api.clock import Clock
from bounceback.api.logs import request_id_var
from bounceback.api.recovery.engine import RecoveryEngine
from bounceback.api.settings import HubSettings
from bounceback.api.store.db import Database
from bounceback.api.work.scheduler import Scheduler

log = logging.getLogger("bounceback.agents")

MAX_BATCH = 128
GATHER_S = 0.001
GATHER_ROUNDS = 5


class ReportsClosed(Exception):
    pass


class _Submission:
    __slots__ = ("done", "incoming")

    def __init__(self, incoming: Incoming, done: asyncio.Future[ReportAck]) -> None:
        self.incoming = incoming
        self.done = done


class AgentReports:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        settings: HubSettings,
        scheduler: Scheduler,
        recovery: RecoveryEngine | None = None,
        *,
        max_batch: int = MAX_BATCH,
    ) -> None:
        self._db = db
        self._clock = clock
        self._scheduler = scheduler
        self._context = Context(settings, scheduler, recovery)
        self._max_batch = max_batch
        self._queue: deque[_Submission | None] = deque()  # None: stop once this far
        self._wakeup: asyncio.Future[None] | None = None
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self.batches = 0
        self.reports = 0

    async def ingest(self, agent_id: str, report: AgentReport, *, actor: str) -> ReportAck:
        if self._closing:
            raise ReportsClosed("the hub is shutting down")
        loop = asyncio.get_running_loop()
        if self._task is None or self._task.done():
            self._task = loop.create_task(self._run(), name="agent-reports-writer")
        done: asyncio.Future[ReportAck] = loop.create_future()
        incoming = Incoming(agent_id, report, actor, request_id_var.get())
        self._put(_Submission(incoming, done))
        return await done

    async def close(self) -> None:
        """Finish what is queued, then stop."""
        self._closing = True
        if self._task is not None and not self._task.done():
            self._put(None)
            await self._task

    def _put(self, item: _Submission | None) -> None:
        self._queue.append(item)
        if self._wakeup is not None and not self._wakeup.done():
            self._wakeup.set_result(None)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        gathering = False
        while True:
            while not self._queue:
                self._wakeup = loop.create_future()
                await self._wakeup
            if gathering:
                # Agents report concurrently: while more keep arriving (and for a few
                # milliseconds at most) let them join, for fewer, fuller transactions.
                for _ in range(GATHER_ROUNDS):
                    queued = len(self._queue)
                    if queued >= self._max_batch:
                        break
                    await asyncio.sleep(GATHER_S)
                    if len(self._queue) == queued:
                        break
            batch = self._take()
            if not batch:
                return  # the stop marker is next
            gathering = len(batch) > 1
            await self._write(batch)

    def _take(self) -> list[_Submission]:
        """Up to ``max_batch`` queued reports of distinct agents, in order; the others stay."""
        batch: list[_Submission] = []
        agents: set[str] = set()
        later: list[_Submission] = []
        while self._queue and len(batch) < self._max_batch:
            item = self._queue[0]
            if item is None:
                break
            self._queue.popleft()
            if item.incoming.agent_id in agents:
                later.append(item)
            else:
                agents.add(item.incoming.agent_id)
                batch.append(item)
        self._queue.extendleft(reversed(later))
        return batch

    async def _write(self, batch: list[_Submission]) -> None:
        now = self._clock.now()
        try:
            async with self._db.transaction() as conn:
                applied = await report_batch.apply(
                    conn, [item.incoming for item in batch], now, self._context
                )
        except Exception as exc:
            if len(batch) > 1:
                log.warning(
                    "%d agent reports failed together (%r); each again alone", len(batch), exc
                )
                for item in batch:
                    await self._write([item])
                return
            log.exception("agent report of %s failed", batch[0].incoming.agent_id)
            if not batch[0].done.done():
                batch[0].done.set_exception(exc)
            return
        self.batches += 1
        self.reports += len(batch)
        if applied.wake:
            self._scheduler.wake()  # the checks and attempts are visible only now
        for item, ack in zip(batch, applied.acks, strict=True):
            if not item.done.done():
                item.done.set_result(ack)
