"""Agent silence: an agent that has not reported for 3 of its intervals (at least 30 s) opens an
incident, which its next report resolves.

Each agent has at most one live check in the scheduled work, due when the agent would become
silent. Reports do not move it (that would write a row per report): when it fires and the agent
has reported since, it re-arms itself at the new deadline. A report only adds a check when none
is live or when the agent's interval shrank. Checks are numbered per agent; a check whose number
is no longer the agent's current one was replaced and does nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from bounceback.api.agents import alerts, store
from bounceback.api.clock import Clock
from bounceback.api.work.queue import WorkItem
from bounceback.api.work.scheduler import Outcome, Scheduler

KIND = "agent.silence"
INTERVALS = 3
# Agents that report every second would otherwise flap on every network hiccup.
MIN_WINDOW = timedelta(seconds=30)
OVERDUE = timedelta(minutes=5)


def window(interval_seconds: float) -> timedelta:
    return max(timedelta(seconds=INTERVALS * interval_seconds), MIN_WINDOW)


def deadline(last_seen: datetime, interval_seconds: float) -> datetime:
    return last_seen + window(interval_seconds)


def needs_check(live_check_due: datetime | None, new_deadline: datetime, now: datetime) -> bool:
    """Whether a report must add a check: none is live, the live one would fire too late, or it
    is long overdue (it failed for good, or no hub ran at the time)."""
    return live_check_due is None or new_deadline < live_check_due or live_check_due < now - OVERDUE


@dataclass(frozen=True)
class Verdict:
    silent: bool = False
    check_again_at: datetime | None = None


def judge(
    now: datetime,
    last_seen: datetime,
    interval_seconds: float,
    silent_since: datetime | None,
    listening_since: datetime,
) -> Verdict:
    """``listening_since`` is when this hub process started: while no hub ran, agents could not
    report, so that time does not count against them (no incident storm after hub downtime)."""
    if silent_since is not None:
        return Verdict()  # already known; the next report ends it
    due = deadline(max(last_seen, listening_since), interval_seconds)
    if now >= due:
        return Verdict(silent=True)
    return Verdict(check_again_at=due)


def work_key(agent_id: str, generation: int) -> str:
    return f"{KIND}:{agent_id}:{generation}"


async def arm(
    conn: AsyncConnection,
    scheduler: Scheduler,
    agent_id: str,
    generation: int,
    due: datetime,
) -> dict[str, Any]:
    """Add check number ``generation + 1``; returns the agent's new values to store."""
    following = generation + 1
    await scheduler.schedule(
        KIND,
        work_key(agent_id, following),
        due,
        {"agent_id": agent_id, "generation": following},
        conn=conn,
    )
    return {"silence_check": following, "silence_due": due}


class SilenceWatch:
    """The transactional handler of ``agent.silence`` work."""

    def __init__(self, clock: Clock, scheduler: Scheduler, started_at: datetime) -> None:
        self._clock = clock
        self._scheduler = scheduler
        self._started_at = started_at

    async def check(self, item: WorkItem, conn: AsyncConnection) -> Outcome:
        agent_id = str(item.payload["agent_id"])
        agent = await store.get(conn, agent_id, lock=True)
        if agent is None or agent.silence_check != item.payload.get("generation"):
            return None  # replaced by a newer check
        now = self._clock.now()
        verdict = judge(
            now, agent.last_seen, agent.interval_seconds, agent.silent_since, self._started_at
        )
        values: dict[str, Any] = {"silence_due": None}
        if verdict.silent:
            event = alerts.silent(agent, now, window(agent.interval_seconds).total_seconds())
            await alerts.apply(conn, event, now)
            values["silent_since"] = now
        elif verdict.check_again_at is not None:
            values = await arm(
                conn, self._scheduler, agent_id, agent.silence_check, verdict.check_again_at
            )
        await store.update(conn, agent_id, values)
        return None
