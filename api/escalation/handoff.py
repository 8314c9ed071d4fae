"""Hand-offs to escalation: "this incident needs a human", and "this incident changed".

Both only add a row of scheduled work in the caller's transaction, so the incident and the
hand-off commit together and a crash cannot lose one: the escalation engine starts (or stops)
the escalation when it takes the row, on any hub replica. Alert intake hands off a whole batch
with one row (``batch_now``), written by its synchronous batch transaction.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from bounceback.api.store.db import insert_many
from bounceback.api.store.tables import scheduled_work
from bounceback.api.work import queue

SYNC = "escalation.sync"


def _payload(opened: list[int], changed: list[int], reason: str) -> dict[str, Any]:
    return {"opened": opened, "changed": changed, "reason": reason}


async def needs_human(
    conn: AsyncConnection, incident_id: int, reason: str, *, now: datetime
) -> None:
    """Start escalating ``incident_id`` per the policy its labels route to (once: asking again
    while an escalation runs changes nothing). Call it in the transaction that opened it."""
    await queue.schedule(
        conn,
        kind=SYNC,
        key=f"{SYNC}:start:{incident_id}",
        due_at=now,
        now=now,
        payload=_payload([incident_id], [], reason[:500]),
        max_attempts=10,
    )


async def changed(conn: AsyncConnection, incident_id: int, *, now: datetime) -> None:
    """The incident was acknowledged or resolved outside the escalation engine: stop its
    escalation, and on resolution tell everyone who was paged."""
    await queue.schedule(
        conn,
        kind=SYNC,
        key=f"{SYNC}:changed:{incident_id}:{uuid.uuid4().hex}",
        due_at=now,
        now=now,
        payload=_payload([], [incident_id], ""),
        max_attempts=10,
    )


def batch_now(
    conn: sa.Connection, opened: list[int], changed: list[int], reason: str, now: datetime
) -> None:
    """One row for a whole intake batch (synchronous: ``Database.run_batch``)."""
    insert_many(
        conn,
        scheduled_work,
        [
            {
                "kind": SYNC,
                "key": f"{SYNC}:batch:{uuid.uuid4().hex}",
                "payload": _payload(opened, changed, reason),
                "state": queue.WorkState.PENDING.value,
                "due_at": now,
                "attempts": 0,
                "max_attempts": 10,
                "created_at": now,
                "lease_owner": None,
                "lease_until": None,
                "last_error": None,
                "finished_at": None,
            }
        ],
    )
