"""What bench/soak.py finds in the store afterwards, set against what the agents, the incident
driver and the partners saw. Not a bench itself.

A helper module, not a script: it has no --quick of its own; the scripts that import it take
--quick and pass the shorter run down.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from _partners import Deliveries, Key
from _support import percentile

from bounceback.api.escalation.steps import STEP
from bounceback.api.notify.outbox import DELIVER
from bounceback.api.store.db import Database
from bounceback.api.store.tables import (
    agent_events,
    audit_log,
    incident_events,
    notifications,
    scheduled_work,
)

CLOCK_SLACK_S = 1.0  # the hub's clock and this process's are the same machine's


@dataclass(frozen=True)
class Expected:
    levels: list[tuple[str, str]]  # (level, person) in order
    level_s: float
    incidents: list[tuple[int, float, float | None]]  # id, opened at, resolved at
    acknowledged: dict[tuple[str, int], float]  # (agent, report seq) -> acknowledged at
    people: dict[str, dict[str, Any]]


async def count(db: Database, expected: Expected, deliveries: Deliveries) -> dict[str, Any]:
    async with db.read() as conn:
        reports = await _reports(conn, expected)
        steps = await _steps(conn, expected)
        sent = await _notifications(conn, expected, deliveries)
    return {**reports, **steps, **sent}


async def _reports(conn: Any, expected: Expected) -> dict[str, Any]:
    events = await conn.scalar(sa.select(sa.func.count()).select_from(agent_events))
    pairs = sa.select(agent_events.c.agent_id, agent_events.c.seq).distinct().subquery()
    distinct = await conn.scalar(sa.select(sa.func.count()).select_from(pairs))
    stored = {
        (row.agent_id, row.seq)
        for row in await conn.execute(
            sa.select(agent_events.c.agent_id, agent_events.c.seq).where(
                agent_events.c.kind == "sample"
            )
        )
    }
    # A report applied twice would have two audit records saying its events were accepted.
    applied: Counter[tuple[str, int]] = Counter()
    rows = await conn.execute(
        sa.select(audit_log.c.target, audit_log.c.details).where(
            audit_log.c.action == "agent.report"
        )
    )
    for target, details in rows:
        if details.get("accepted", 0) > 0:
            applied[(target, details["last_seq"])] += 1
    applied_twice = sum(n - 1 for n in applied.values())
    lost = [report for report in expected.acknowledged if report not in stored]
    sizes: dict[str, Any] = {}
    if conn.dialect.name == "postgresql":  # for sizing: what a report costs on disk
        events_bytes = await conn.scalar(sa.text("SELECT pg_total_relation_size('agent_events')"))
        audit_bytes = await conn.scalar(sa.text("SELECT pg_total_relation_size('audit_log')"))
        total = await conn.scalar(
            sa.text(
                "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c JOIN pg_namespace n"
                " ON n.oid = c.relnamespace WHERE n.nspname = current_schema()"
                " AND c.relkind = 'r'"
            )
        )
        sizes = {
            "store_mb": round(int(total or 0) / 2**20, 1),
            "bytes_per_report": round(
                (int(events_bytes or 0) + int(audit_bytes or 0)) / max(1, len(stored))
            ),
        }
    return {
        **sizes,
        "received": len(stored),
        "lost": len(lost),
        "duplicated": (events - distinct) + applied_twice,
        "duplicated_events": events - distinct,
        "reports_applied_twice": applied_twice,
        "stored_not_acknowledged": len(stored - expected.acknowledged.keys()),
    }


async def _steps(conn: Any, expected: Expected) -> dict[str, Any]:
    fired: Counter[tuple[int, str]] = Counter()
    rows = await conn.execute(
        sa.select(incident_events.c.incident_id, incident_events.c.data).where(
            incident_events.c.kind == "escalation_level"
        )
    )
    for incident_id, data in rows:
        fired[(incident_id, data["level"])] += 1
    due: set[tuple[int, str]] = set()
    for incident_id, opened, resolved in expected.incidents:
        for k, (level, _person) in enumerate(expected.levels):
            at = opened + k * expected.level_s
            if resolved is None or at < resolved - CLOCK_SLACK_S:
                due.add((incident_id, level))
    late = [
        (row.finished_at - row.due_at).total_seconds()
        for row in await conn.execute(
            sa.select(scheduled_work.c.due_at, scheduled_work.c.finished_at).where(
                scheduled_work.c.kind == STEP, scheduled_work.c.state == "done"
            )
        )
    ]
    return {
        "steps_due": len(due),
        "steps_fired": len(due & fired.keys()),
        "missed_steps": len(due - fired.keys()),
        "duplicated_steps": sum(n - 1 for n in fired.values()),
        "steps_not_due_fired": len(fired.keys() - due),
        "step_late_p50_s": round(percentile(late, 0.5), 3),
        "step_late_p99_s": round(percentile(late, 0.99), 3),
        "step_late_max_s": round(max(late, default=0.0), 3),
    }


def _key(row: Any, person: dict[str, Any]) -> Key:
    if row.channel == "slack":
        return ("slack", str(person["slack_user_id"])[1:], row.incident_id, row.purpose)
    if row.channel == "sms":
        return ("sms", str(person["phone"]), row.incident_id, row.purpose)
    if row.channel == "phone":
        return ("phone", str(row.id), 0, "page")
    return ("email", str(row.id), 0, "mail")


async def _notifications(conn: Any, expected: Expected, deliveries: Deliveries) -> dict[str, Any]:
    rows = (await conn.execute(sa.select(notifications))).all()
    states = Counter(row.state for row in rows)
    sent = [row for row in rows if row.state == "sent"]
    keys = {_key(row, expected.people[row.person_id]): row for row in sent}
    missing = [key for key in keys if key not in deliveries.counts]
    unrecorded = [key for key in deliveries.counts if key not in keys]
    duplicates = {key: n for key, n in deliveries.counts.items() if n > 1}
    detail = []
    for key in sorted(duplicates)[:20]:
        row = keys.get(key)
        claims = None
        if row is not None:
            claims = await conn.scalar(
                sa.select(scheduled_work.c.attempts).where(
                    scheduled_work.c.key == f"{DELIVER}:{row.id}"
                )
            )
        detail.append(
            {
                "key": list(key),
                "times": duplicates[key],
                "notification": row.id if row is not None else None,
                "recorded_attempts": row.attempts if row is not None else None,
                "claims": claims,  # more claims than recorded attempts: a run died in between
            }
        )
    return {
        "notifications_sent": len(sent),
        "notifications_received": deliveries.received,
        "notifications_missing": len(missing),
        "notifications_unrecorded": len(unrecorded),
        "duplicated_notifications": deliveries.duplicated,
        "emails_resent_same_message_id": deliveries.resent_emails,
        "found_after_interruption": sum(
            1 for row in sent if "found at the provider after an interrupted" in (row.answer or "")
        ),
        "duplicated_notification_detail": detail,
        "notification_states": dict(states),
        "received_by_channel": deliveries.by_channel(),
        "partner_other_requests": deliveries.other,
    }
