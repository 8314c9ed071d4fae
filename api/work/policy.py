"""Pure decisions of the scheduler: how an attempt's outcome is recorded, when to look again."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bounceback.api.work.queue import WorkItem, WorkState


@dataclass(frozen=True)
class Retry:
    """Try again at ``at`` (or after the default backoff)."""

    error: str
    at: datetime | None = None


@dataclass(frozen=True)
class Fail:
    """Give up: the work cannot succeed."""

    error: str


Outcome = Retry | Fail | None  # None: done

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def next_boundary(now: datetime, interval: float) -> datetime:
    """The first interval boundary strictly after ``now`` (boundaries count from the epoch).

    Periodic work keys each run by this time, so every replica that starts schedules the same
    row and only one of them runs it."""
    ticks = math.floor((now - _EPOCH).total_seconds() / interval) + 1
    return _EPOCH + timedelta(seconds=ticks * interval)


@dataclass(frozen=True)
class Decision:
    """How a finished attempt is recorded."""

    state: WorkState
    error: str | None = None
    retry_at: datetime | None = None


def backoff(
    attempts: int,
    base: timedelta = timedelta(seconds=10),
    cap: timedelta = timedelta(minutes=10),
) -> timedelta:
    """Exponential delay before the next attempt (the exponent is bounded: no overflow)."""
    exponent = min(max(0, attempts - 1), 32)
    return min(base * (1 << exponent), cap)


def decide(item: WorkItem, outcome: Outcome, now: datetime) -> Decision:
    if outcome is None:
        return Decision(WorkState.DONE)
    if isinstance(outcome, Fail) or item.attempts >= item.max_attempts:
        return Decision(WorkState.FAILED, outcome.error)
    return Decision(WorkState.PENDING, outcome.error, outcome.at or now + backoff(item.attempts))


def next_wake(
    *,
    now: datetime,
    pass_began: datetime,
    due: datetime | None,
    started: int,
    full: bool,
    poll: timedelta,
) -> datetime:
    """When the claim loop looks again: at the next due time, at the latest after ``poll``.

    A row that was already due when the pass began but was not claimed is not ours to take now
    (another process is claiming it, or we are at the concurrency limit): looking again at once
    would spin, so the loop waits for the poll or a wake-up instead.
    """
    fallback = now + poll
    if due is None or full or (started == 0 and due <= pass_began):
        return fallback
    return min(fallback, due)
