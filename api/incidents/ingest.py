"""Durable alert intake with group commit.

Each request hands its events to one writer task and waits. The writer takes everything queued,
applies it in one transaction and answers every request only after the commit: a 2xx always means
the alert is on disk, and concurrent senders share the cost of one commit.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from bounceback.api.audit import audit_row
from bounceback.api.clock import Clock
from bounceback.api.incidents import store
from bounceback.api.incidents.decide import IncidentSnapshot, apply_alert
from bounceback.api.intake.event import AlertEvent
from bounceback.api.logs import request_id_var
from bounceback.api.schema import IncidentState, IntakeAction, IntakeResult
from bounceback.api.store.db import Database
from bounceback.api.store.tables import audit_log

log = logging.getLogger("bounceback.intake")

MAX_BATCH = 256


@dataclass
class _Submission:
    events: list[AlertEvent]
    actor: str
    action: str
    request_id: str
    done: asyncio.Future[list[IntakeResult]] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class IngestClosed(Exception):
    pass


class IngestQueue:
    def __init__(self, db: Database, clock: Clock, *, max_batch: int = MAX_BATCH) -> None:
        self._db = db
        self._clock = clock
        self._max_batch = max_batch
        self._queue: asyncio.Queue[_Submission | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self.batches = 0
        self.events = 0

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="ingest-writer")

    @property
    def alive(self) -> bool:
        return self._task is not None and not self._task.done()

    async def submit(
        self, events: list[AlertEvent], *, actor: str, action: str
    ) -> list[IntakeResult]:
        if self._closing or not self.alive:
            raise IngestClosed("the hub is shutting down")
        submission = _Submission(events, actor, action, request_id_var.get())
        self._queue.put_nowait(submission)
        return await submission.done

    async def close(self) -> None:
        """Finish what is queued, then stop."""
        self._closing = True
        if self._task is not None:
            self._queue.put_nowait(None)
            await self._task

    async def _run(self) -> None:
        stopping = False
        while not stopping:
            first = await self._queue.get()
            if first is None:
                break
            batch = [first]
            while len(batch) < self._max_batch and not self._queue.empty():
                item = self._queue.get_nowait()
                if item is None:
                    stopping = True
                    break
                batch.append(item)
            await self._write(batch)

    async def _write(self, batch: list[_Submission]) -> None:
        try:
            async with self._db.transaction() as conn:
                results = await self._apply(conn, batch)
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
        for submission, result in zip(batch, results, strict=True):
            self.events += len(submission.events)
            if not submission.done.done():
                submission.done.set_result(result)

    async def _apply(
        self, conn: AsyncConnection, batch: list[_Submission]
    ) -> list[list[IntakeResult]]:
        now = self._clock.now()
        fingerprints = {event.fingerprint for sub in batch for event in sub.events}
        open_now: dict[str, IncidentSnapshot] = await store.open_by_fingerprint(conn, fingerprints)
        pending: dict[int, dict[str, Any]] = {}
        event_rows: list[dict[str, Any]] = []
        audit_rows: list[dict[str, Any]] = []
        results: list[list[IntakeResult]] = []
        for submission in batch:
            answers = []
            for event in submission.events:
                current = open_now.get(event.fingerprint)
                change = apply_alert(current, event, now)
                incident_id = current.id if current else None
                if change.open_new:
                    incident_id = await store.insert_open(conn, event, change, now)
                    if incident_id is None:
                        # Another replica opened it a moment ago: apply to that one.
                        current = (await store.open_by_fingerprint(conn, [event.fingerprint]))[
                            event.fingerprint
                        ]
                        incident_id = current.id
                        change = apply_alert(current, event, now)
                if incident_id is not None and change.action != IntakeAction.IGNORED:
                    if not change.open_new:
                        values = store.update_values(change, now, summary=event.summary)
                        merged = pending.setdefault(incident_id, {})
                        if "alert_count" in merged and "alert_count" in values:
                            values["alert_count"] = merged["alert_count"] + 1
                        merged.update(values)
                    event_rows.extend(store.event_rows(incident_id, change, now))
                    state = change.state or IncidentState.TRIGGERED
                    if state == IncidentState.RESOLVED:
                        # Write it now: a later alert in this batch may open a new incident
                        # for the same fingerprint, which the open-incident index only allows
                        # once this one is resolved.
                        await store.update(conn, incident_id, pending.pop(incident_id))
                        open_now.pop(event.fingerprint, None)
                    else:
                        open_now[event.fingerprint] = IncidentSnapshot(
                            incident_id,
                            state,
                            change.severity or event.severity,
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
            target = ",".join(f"incident:{a.incident_id}" for a in answers if a.incident_id)
            row = audit_row(
                at=now,
                actor=submission.actor,
                action=submission.action,
                target=target or "-",
                outcome=",".join(sorted({a.action.value for a in answers})) or "empty",
                details={"dedup_keys": [a.dedup_key for a in answers][:20]},
            )
            row["request_id"] = submission.request_id
            audit_rows.append(row)
            results.append(answers)
        for incident_id, values in pending.items():
            await store.update(conn, incident_id, values)
        await store.insert_events(conn, event_rows)
        await conn.execute(audit_log.insert(), audit_rows)
        return results
