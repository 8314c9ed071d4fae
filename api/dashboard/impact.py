"""Performance Impact: per recovery action, the host's readings before its attempts and after.

Two sources record both: the hub's recovery attempts (``before`` is the host's sample when the
try began, ``after`` the sample it finished on) and the agents' self-healing attempts (the
readings the agent took around the action). Each finished attempt with both is one pair; an
action's figure per metric is the mean over its pairs that have the metric on both sides.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from bounceback.api.agent_wire import HealingOutcome
from bounceback.api.recovery.decide import FINAL_STATES
from bounceback.api.store.tables import healing_attempts, recovery_attempts

SCAN = 2000  # newest finished attempts read per source: enough for averages, bounded work
METRICS_SHOWN = 6  # per action, the metrics that moved most
_AGENT_DONE = [
    o.value for o in (HealingOutcome.SUCCEEDED, HealingOutcome.FAILED, HealingOutcome.GAVE_UP)
]


@dataclass(frozen=True)
class Pair:
    source: str  # "hub" (recovery attempt) or "agent" (self-healing attempt)
    action: str
    outcome: str
    before: Mapping[str, Any]
    after: Mapping[str, Any]


@dataclass(frozen=True)
class MetricImpact:
    metric: str
    before: float  # mean
    after: float  # mean
    pairs: int

    @property
    def change(self) -> float:
        return self.after - self.before


@dataclass(frozen=True)
class ActionImpact:
    source: str
    action: str
    attempts: int
    succeeded: int
    metrics: list[MetricImpact]


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def summarize(pairs: Iterable[Pair], shown: int = METRICS_SHOWN) -> list[ActionImpact]:
    """One entry per (source, action), sorted by source then action; each lists the metrics
    read on both sides, largest mean change first."""
    grouped: dict[tuple[str, str], list[Pair]] = {}
    for pair in pairs:
        grouped.setdefault((pair.source, pair.action), []).append(pair)
    out = []
    for (source, action), found in sorted(grouped.items()):
        sums: dict[str, list[float]] = {}
        for pair in found:
            for name, raw in pair.before.items():
                before, after = _number(raw), _number(pair.after.get(name))
                if before is None or after is None:
                    continue
                entry = sums.setdefault(name, [0.0, 0.0, 0.0])
                entry[0] += before
                entry[1] += after
                entry[2] += 1
        metrics = [
            MetricImpact(name, round(b / n, 2), round(a / n, 2), int(n))
            for name, (b, a, n) in sums.items()
        ]
        metrics.sort(key=lambda m: (-abs(m.change), m.metric))
        out.append(
            ActionImpact(
                source=source,
                action=action,
                attempts=len(found),
                succeeded=sum(p.outcome == "succeeded" for p in found),
                metrics=metrics[:shown],
            )
        )
    return out


async def pairs_since(conn: AsyncConnection, since: datetime) -> list[Pair]:
    """Attempts of both sources that finished since ``since`` with readings on both sides."""
    hub_rows = await conn.execute(
        sa.select(
            recovery_attempts.c.action_id,
            recovery_attempts.c.state,
            recovery_attempts.c.before,
            recovery_attempts.c.after,
        )
        .where(
            recovery_attempts.c.state.in_([s.value for s in FINAL_STATES]),
            recovery_attempts.c.finished_at >= since,
        )
        .order_by(recovery_attempts.c.finished_at.desc())
        .limit(SCAN)
    )
    agent_rows = await conn.execute(
        sa.select(
            healing_attempts.c.action,
            healing_attempts.c.outcome,
            healing_attempts.c.before,
            healing_attempts.c.after,
        )
        .where(
            healing_attempts.c.outcome.in_(_AGENT_DONE),
            healing_attempts.c.finished_at >= since,
        )
        .order_by(healing_attempts.c.finished_at.desc())
        .limit(SCAN)
    )
    found = [
        Pair("hub", action, state, before, after)
        for action, state, before, after in hub_rows
        if before and after
    ]
    found += [
        Pair("agent", action, outcome, before, after)
        for action, outcome, before, after in agent_rows
        if before and after
    ]
    return found
