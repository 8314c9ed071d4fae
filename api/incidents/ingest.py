"""Durable alert intake with group commit.

Each request hands its events to one writer task and waits. The writer takes everything queued,
applies it in one transaction and answers every request only after the commit: a 2xx always means
the alert is on disk, and concurrent senders share the cost of one commit. While senders are
concurrent, the writer waits a moment (GATHER_S) before it takes a batch, so that batches are
full rather than many and small.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from bounceback.api.audit import audit_row
from bounceback.api.clock import Clock
from bounceback.api.escalation import handoff
from bounceback.api.incidents import store
from bounceback.api.incidents.decide import IncidentSnapshot, apply_alert
from bounceback.api.intake.event import AlertEvent
from bounceback.api.logs import request_id_var
from bounceback.api.schema import IncidentState, IntakeAction, IntakeResult
from bounceback.api.store.db import Database, insert_many, mark_changed
from bounceback.api.store.tables import audit_log

log = logging.getLogger("bounceback.intake")

MAX_BATCH = 256
# Under concurrent load, how long the writer lets requests gather before it takes a batch. Any
# wait on a timer will do: it ends only once the event loop has been through what is ready, so
# every request already read hands over its alert first (yielding without a timer does not). A
# tenth of a millisecond turned batches of about half the senders into batches of nearly all.
GATHER_S = 0.0001


class _Submission:
    __slots__ = ("action", "actor", "done", "events", "request_id")

    def __init__(
        self,
        events: list[AlertEvent],
        actor: str,
        action: str,
        request_id: str,
        done: asyncio.Future[list[IntakeResult]],
    ) -> None:
        self.events = events
        self.actor = actor
        self.action = action
        self.request_id = request_id
        self.done = done


class IngestClosed(Exception):
    pass


class IngestQueue:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        *,
        max_batch: int = MAX_BATCH,
        on_handoff: Callable[[], None] | None = None,
        escalates: Callable[[], bool] = lambda: False,
    ) -> None:
        self._db = db
        # Whether incidents go to escalation (it is set up), asked once per batch; and what to
        # call after a batch that handed some over committed (wakes the escalation worker).
        self._escalates = escalates
        self._on_handoff = on_handoff
        self._clock = clock
        self._max_batch = max_batch
        self._queue: deque[_Submission | None] = deque()  # None: stop once this far
        self._wakeup: asyncio.Future[None] | None = None  # the writer waits for a submission
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closing = False
        self.batches = 0
        self.events = 0

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._task = self._loop.create_task(self._run(), name="ingest-writer")

    @property
    def alive(self) -> bool:
        return self._task is not None and not self._task.done()

    async def submit(
        self, events: list[AlertEvent], *, actor: str, action: str
    ) -> list[IntakeResult]:
        if self._closing or not self.alive:
            raise IngestClosed("the hub is shutting down")
        assert self._loop is not None
        done: asyncio.Future[list[IntakeResult]] = self._loop.create_future()
        self._put(_Submission(events, actor, action, request_id_var.get(), done))
        return await done

    async def close(self) -> None:
        """Finish what is queued, then stop."""
        self._closing = True
        if self._task is not None:
            self._put(None)
            await self._task

    def _put(self, item: _Submission | None) -> None:
        self._queue.append(item)
        if self._wakeup is not None and not self._wakeup.done():
            self._wakeup.set_result(None)

    async def _run(self) -> None:
        assert self._loop is not None
        loop = self._loop
        stopping = False
        gathering = False
        while not stopping:
            while not self._queue:
                self._wakeup = loop.create_future()
                await self._wakeup
            if gathering and len(self._queue) < self._max_batch:
                # Senders are concurrent (the last batch had several): let the requests being
                # read join this batch. A little latency for fewer, fuller commits; an alert on
                # its own is written at once.
                await asyncio.sleep(GATHER_S)
            batch: list[_Submission] = []
            while self._queue and len(batch) < self._max_batch:
                item = self._queue.popleft()
                if item is None:
                    stopping = True
                    break
                batch.append(item)
            if batch:
                gathering = len(batch) > 1
                await self._write(batch)

    async def _write(self, batch: list[_Submission]) -> None:
        now = self._clock.now()

        escalates = self._escalates()

        def apply(conn: sa.Connection) -> tuple[list[list[IntakeResult]], bool]:
            return self._apply(conn, batch, now, escalates)

        try:
            results, handed_off = await self._db.run_batch(apply)
        except Exception as exc:
            if len(batch) > 1:
                # One bad submission must not fail its neighbours: retry each alone.
                for submission in batch:
                    await self._write([submission])
                return
            log.exception("alert intake failed")
            if not batch[0].done.done():
                batch[0].done.set_exception(exc)
            return
        self.batches += 1
        if handed_off and self._on_handoff is not None:
            self._on_handoff()
        for submission, result in zip(batch, results, strict=True):
            self.events += len(submission.events)
            if not submission.done.done():
                submission.done.set_result(result)

    @staticmethod
    def _apply(
        conn: sa.Connection, batch: list[_Submission], now: datetime, escalates: bool
    ) -> tuple[list[list[IntakeResult]], bool]:
        """The whole batch in one transaction: synchronous, run by ``Database.run_batch``.
        Also says whether it handed incidents to escalation (opened, acknowledged, resolved)."""
        fingerprints = {event.fingerprint for sub in batch for event in sub.events}
        open_now: dict[str, IncidentSnapshot] = store.open_by_fingerprint_now(conn, fingerprints)
        # Per incident: the columns to set, and how many alerts to add to its count.
        pending: dict[int, dict[str, Any]] = {}
        alerts: dict[int, int] = {}
        event_rows: list[dict[str, Any]] = []
        audit_rows: list[dict[str, Any]] = []
        results: list[list[IntakeResult]] = []
        opened: list[int] = []  # for escalation: one row of work for the whole batch
        changed: list[int] = []
        for submission in batch:
            answers = []
            for event in submission.events:
                current = open_now.get(event.fingerprint)
                change = apply_alert(current, event, now)
                incident_id = current.id if current else None
                if change.open_new:
                    incident_id = store.insert_open_now(conn, event, change, now)
                    if incident_id is not None:
                        opened.append(incident_id)
                    else:
                        # Another replica opened it a moment ago: apply to that one.
                        current = store.open_by_fingerprint_now(conn, [event.fingerprint])[
                            event.fingerprint
                        ]
                        incident_id = current.id
                        change = apply_alert(current, event, now)
                if incident_id is not None and change.action != IntakeAction.IGNORED:
                    if not change.open_new:
                        values = store.change_values(change, now, summary=event.summary)
                        if current is not None:
                            # Leave alone what stays as it is: no index entry to rewrite.
                            if values.get("state") == current.state.value:
                                del values["state"]
                            if values.get("severity") == current.severity.value:
                                del values["severity"]
                        pending.setdefault(incident_id, {}).update(values)
                        if change.alert:
                            alerts[incident_id] = alerts.get(incident_id, 0) + 1
                    event_rows.extend(store.event_rows(incident_id, change, now))
                    state = change.state or IncidentState.TRIGGERED
                    if current is not None and state != current.state:
                        changed.append(incident_id)
                    if state == IncidentState.RESOLVED:
                        # Write it now: a later alert in this batch may open a new incident
                        # for the same fingerprint, which the open-incident index only allows
                        # once this one is resolved.
                        store.update_many_now(
                            conn,
                            {incident_id: pending.pop(incident_id)},
                            {incident_id: alerts.pop(incident_id, 0)},
                        )
                        open_now.pop(event.fingerprint, None)
                    else:
                        severity = change.severity or event.severity
                        if (
                            current is None
                            or open_now.get(event.fingerprint) is not current
                            or current.id != incident_id
                            or current.state != state
                            or current.severity != severity
                        ):
                            open_now[event.fingerprint] = IncidentSnapshot(
                                incident_id,
                                state,
                                severity,
                                current.silenced_until if current else None,
                            )
                answers.append(
                    IntakeResult(
                        action=change.action,
                        incident_id=incident_id,
                        dedup_key=event.dedup_key,
                        state=change.state if change.action != IntakeAction.IGNORED else None,
                    )
                )
            if len(answers) == 1:  # the usual case, spelled out: the same as below
                [answer] = answers
                target = f"incident:{answer.incident_id}" if answer.incident_id else ""
                outcome = answer.action.value
                dedup_keys = [answer.dedup_key]
            else:
                target = ",".join(f"incident:{a.incident_id}" for a in answers if a.incident_id)
                outcome = ",".join(sorted({a.action.value for a in answers}))
                dedup_keys = [a.dedup_key for a in answers][:20]
            row = audit_row(
                at=now,
                actor=submission.actor,
                action=submission.action,
                target=target or "-",
                outcome=outcome or "empty",
                details={"dedup_keys": dedup_keys},
            )
            row["request_id"] = submission.request_id
            audit_rows.append(row)
            results.append(answers)
        store.update_many_now(conn, pending, alerts)
        store.insert_events_now(conn, event_rows)
        insert_many(conn, audit_log, audit_rows)
        mark_changed(conn, "incident")
        handed_off = escalates and bool(opened or changed)
        if handed_off:
            handoff.batch_now(conn, opened, changed, "alert intake", now)
        return results, handed_off
