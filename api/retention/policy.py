"""Pure decisions of retention: the cut-off time of each kind of record, and which rows of an
oldest-first batch are past it.

Three kinds of record grow with use and are pruned: agent events (with the audit records of the
agent reports that carried them, which are as many and say no more), every other audit record,
and finished scheduled work. Incidents, their timelines, recovery and self-healing history are the
product's record and are kept.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from bounceback.api.settings import HubSettings


@dataclass(frozen=True)
class RetentionPolicy:
    """Days to keep each kind of record; 0 keeps it for ever."""

    agent_events_days: float
    audit_days: float
    work_days: float

    @classmethod
    def from_settings(cls, settings: HubSettings) -> RetentionPolicy:
        return cls(
            agent_events_days=settings.bounceback_retention_agent_events_days,
            audit_days=settings.bounceback_retention_audit_days,
            work_days=settings.bounceback_retention_work_days,
        )


@dataclass(frozen=True)
class Cutoffs:
    """Records older than these times go; None keeps that kind for ever."""

    agent_events: datetime | None
    audit: datetime | None
    work: datetime | None

    @property
    def nothing(self) -> bool:
        return self.agent_events is None and self.audit is None and self.work is None


def cutoffs(policy: RetentionPolicy, now: datetime) -> Cutoffs:
    def before(days: float) -> datetime | None:
        return now - timedelta(days=days) if days > 0 else None

    return Cutoffs(
        agent_events=before(policy.agent_events_days),
        audit=before(policy.audit_days),
        work=before(policy.work_days),
    )


@dataclass(frozen=True)
class Expired:
    last_id: int | None  # delete up to this id (with the time condition); None: nothing
    count: int
    more: bool  # the whole batch was past the cut-off: there may be more behind it


def expired_prefix(rows: Sequence[tuple[int, datetime]], cutoff: datetime, batch: int) -> Expired:
    """Of ``rows`` (id, time) in id order, the oldest first, the leading run older than ``cutoff``.

    Ids grow with time, so the rows past the cut-off come first and the first newer row ends the
    run. The few that a concurrent writer numbered out of order wait for a later pass."""
    count = 0
    for _, at in rows:
        if at >= cutoff:
            break
        count += 1
    last_id = rows[count - 1][0] if count else None
    return Expired(last_id, count, more=count == len(rows) == batch)
