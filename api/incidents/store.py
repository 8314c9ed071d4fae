"""Writing incident changes: shared by alert intake (in batches) and people's actions."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection

from bounceback.api.incidents.decide import Change, IncidentSnapshot, apply_alert
from bounceback.api.intake.event import AlertEvent
from bounceback.api.schema import IncidentState, Severity
from bounceback.api.store.db import execute_many, insert_many, scalar_returning, sqlite_connection
from bounceback.api.store.tables import incident_events, incidents

_OPEN = incidents.c.state != IncidentState.RESOLVED.value
# The predicate of the open-incident index, spelled as the index spells it: PostgreSQL matches
# ON CONFLICT to a partial index only by an identical literal predicate, never a bound parameter.
_OPEN_INDEX_PREDICATE = sa.text("state != 'resolved'")


def _snapshot(row: Any) -> IncidentSnapshot:
    return IncidentSnapshot(
        id=row.id,
        state=IncidentState(row.state),
        severity=Severity(row.severity),
        silenced_until=row.silenced_until,
    )


# The open incidents for a list of fingerprints, locked until commit on PostgreSQL.
_OPEN_BY_FINGERPRINT = (
    sa.select(
        incidents.c.id,
        incidents.c.fingerprint,
        incidents.c.state,
        incidents.c.severity,
        incidents.c.silenced_until,
    )
    .where(incidents.c.fingerprint.in_(sa.bindparam("fingerprints", expanding=True)), _OPEN)
    .order_by(incidents.c.id)  # one lock order for every replica: no deadlocks
    .with_for_update()
)


async def open_by_fingerprint(
    conn: AsyncConnection, fingerprints: Iterable[str]
) -> dict[str, IncidentSnapshot]:
    """The open incidents for these fingerprints, locked until commit on PostgreSQL."""
    rows = await conn.execute(_OPEN_BY_FINGERPRINT, {"fingerprints": list(fingerprints)})
    return {row.fingerprint: _snapshot(row) for row in rows}


async def snapshot(conn: AsyncConnection, incident_id: int) -> IncidentSnapshot | None:
    query = (
        sa.select(
            incidents.c.id, incidents.c.state, incidents.c.severity, incidents.c.silenced_until
        )
        .where(incidents.c.id == incident_id)
        .with_for_update()
    )
    row = (await conn.execute(query)).first()
    return _snapshot(row) if row is not None else None


@functools.cache
def _insert_open_statement(dialect: str) -> sa.Insert:
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return (
        insert(incidents)
        .on_conflict_do_nothing(index_elements=["fingerprint"], index_where=_OPEN_INDEX_PREDICATE)
        .returning(incidents.c.id)
    )


def _insert_open_values(event: AlertEvent, change: Change, now: datetime) -> dict[str, Any]:
    return {
        "fingerprint": event.fingerprint,
        "dedup_key": event.dedup_key,
        "state": IncidentState.TRIGGERED.value,
        "severity": (change.severity or event.severity).value,
        "summary": event.summary,
        "source": event.source,
        "service": event.service,
        "labels": event.labels,
        "integration": event.integration,
        "alert_count": 1,
        "created_at": now,
        "updated_at": now,
        "last_alert_at": now,
    }


async def insert_open(
    conn: AsyncConnection, event: AlertEvent, change: Change, now: datetime
) -> int | None:
    """Open an incident; None when another writer opened one for this fingerprint first."""
    statement = _insert_open_statement(conn.dialect.name)
    incident_id: int | None = await conn.scalar(statement, _insert_open_values(event, change, now))
    return incident_id


@dataclass(frozen=True)
class Applied:
    """An alert applied to the open incident of its fingerprint, one opened if there was none."""

    incident_id: int | None  # None: nothing to open (an acknowledge or resolve for no incident)
    current: IncidentSnapshot | None  # the open incident it found, if any
    change: Change


async def open_or_find(conn: AsyncConnection, event: AlertEvent, now: datetime) -> Applied:
    """The decision for ``event`` and the incident it lands on, opened now when it asks for a new
    one. When another writer opened it a moment ago, the decision is taken again on theirs."""
    current = (await open_by_fingerprint(conn, [event.fingerprint])).get(event.fingerprint)
    change = apply_alert(current, event, now)
    incident_id = current.id if current else None
    if change.open_new:
        incident_id = await insert_open(conn, event, change, now)
        if incident_id is None:
            current = (await open_by_fingerprint(conn, [event.fingerprint]))[event.fingerprint]
            incident_id = current.id
            change = apply_alert(current, event, now)
    return Applied(incident_id, current, change)


def change_values(change: Change, now: datetime, *, summary: str | None = None) -> dict[str, Any]:
    """The columns a change sets, as plain values; an alert's count is left to the caller."""
    values: dict[str, Any] = {"updated_at": now, **change.set_fields}
    if change.state is not None:
        values["state"] = change.state.value
    if change.severity is not None:
        values["severity"] = change.severity.value
    if change.alert:
        values["last_alert_at"] = now
        if summary:
            values["summary"] = summary
    return values


def update_values(change: Change, now: datetime, *, summary: str | None = None) -> dict[str, Any]:
    values = change_values(change, now, summary=summary)
    if change.alert:
        values["alert_count"] = incidents.c.alert_count + 1
    return values


async def update(conn: AsyncConnection, incident_id: int, values: dict[str, Any]) -> None:
    await conn.execute(incidents.update().where(incidents.c.id == incident_id).values(values))


@functools.lru_cache(maxsize=64)
def _update_many_statement(columns: tuple[str, ...]) -> sa.Update:
    set_columns: dict[str, Any] = {
        name: sa.bindparam(f"b_{name}", type_=incidents.c[name].type) for name in columns
    }
    set_columns["alert_count"] = incidents.c.alert_count + sa.bindparam(
        "b_alerts", type_=sa.Integer
    )
    return (
        incidents.update()
        .where(incidents.c.id == sa.bindparam("b_id", type_=sa.Integer))
        .values(set_columns)
    )


def event_rows(incident_id: int, change: Change, now: datetime) -> list[dict[str, Any]]:
    return [
        {
            "incident_id": incident_id,
            "at": now,
            "kind": entry.kind,
            "actor": entry.actor,
            "message": entry.message,
            "data": _jsonable(entry.data),
        }
        for entry in change.entries
    ]


async def insert_events(conn: AsyncConnection, rows: list[dict[str, Any]]) -> None:
    if rows:
        await conn.execute(incident_events.insert(), rows)


# The same for batch writers, which run synchronously in one transaction (Database.run_batch).


def open_by_fingerprint_now(
    conn: sa.Connection, fingerprints: Iterable[str]
) -> dict[str, IncidentSnapshot]:
    wanted = list(fingerprints)
    if conn.dialect.name != "sqlite":
        rows = conn.execute(_OPEN_BY_FINGERPRINT, {"fingerprints": wanted})
        return {row.fingerprint: _snapshot(row) for row in rows}
    # The same query, straight to the driver (see execute_many).
    silenced = _silenced_until_from_sqlite(conn.dialect)
    found = sqlite_connection(conn).execute(_open_by_fingerprint_sqlite(len(wanted)), wanted)
    return {
        fingerprint: IncidentSnapshot(
            id=incident_id,
            state=IncidentState(state),
            severity=Severity(severity),
            silenced_until=None if until is None else silenced(until),
        )
        for incident_id, fingerprint, state, severity, until in found
    }


@functools.lru_cache(maxsize=1024)
def _open_by_fingerprint_sqlite(count: int) -> str:
    marks = ", ".join("?" * count)  # only placeholders go in: the values are parameters
    return (
        "SELECT id, fingerprint, state, severity, silenced_until FROM incidents "  # noqa: S608
        f"WHERE fingerprint IN ({marks}) AND {_OPEN_INDEX_PREDICATE.text} ORDER BY id"
    )


@functools.cache
def _silenced_until_from_sqlite(dialect: Dialect) -> Callable[[Any], Any]:
    column_type = incidents.c.silenced_until.type.dialect_impl(dialect)
    process = column_type.result_processor(dialect, None)
    assert process is not None
    return process


def insert_open_now(
    conn: sa.Connection, event: AlertEvent, change: Change, now: datetime
) -> int | None:
    statement = _insert_open_statement(conn.dialect.name)
    incident_id: int | None = scalar_returning(
        conn, statement, _insert_open_values(event, change, now)
    )
    return incident_id


def update_many_now(
    conn: sa.Connection, values: dict[int, dict[str, Any]], alerts: dict[int, int]
) -> None:
    """Set ``values[id]`` (from ``change_values``) on each incident and count ``alerts[id]``
    more alerts on it: one statement for all the incidents that change the same columns."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for incident_id, changed in values.items():
        params = {f"b_{name}": value for name, value in changed.items()}
        params["b_id"] = incident_id
        params["b_alerts"] = alerts.get(incident_id, 0)
        groups.setdefault(tuple(sorted(changed)), []).append(params)
    for columns, rows in groups.items():
        execute_many(conn, _update_many_statement(columns), rows)


def insert_events_now(conn: sa.Connection, rows: list[dict[str, Any]]) -> None:
    insert_many(conn, incident_events, rows)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return value
