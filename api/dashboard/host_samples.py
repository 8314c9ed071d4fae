"""Each host's recent metric samples, for the System Health page's sparklines.

Agents' samples are kept as ``sample`` events in ``agent_events``. One query reads the newest
``per_host`` of every agent: for each agent, an index probe on (agent_id, kind, seq) finds the
seq of its ``per_host``-th newest sample, then a range scan on the same index reads from there.
The work grows with agents times ``per_host``, not with the length of the event log (checked
with EXPLAIN on both backends: index probes only, no scan of ``agent_events``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from bounceback.api.store.tables import agent_events, agents

PER_HOST = 30
SHOWN = ("cpu_percent", "memory_percent", "disk_percent")


@dataclass
class Series:
    """A host's recent readings per metric, oldest first."""

    values: dict[str, list[float]] = field(default_factory=lambda: {m: [] for m in SHOWN})
    first_at: datetime | None = None
    last_at: datetime | None = None


def recent_query(per_host: int) -> sa.Select[Any]:
    newer = agent_events.alias("newer")
    from_seq = (
        sa.select(newer.c.seq)
        .where(newer.c.agent_id == agents.c.id, newer.c.kind == "sample")
        .order_by(newer.c.seq.desc())
        .limit(1)
        .offset(per_host - 1)
        .correlate(agents)
        .scalar_subquery()
    )
    cutoffs = sa.select(
        agents.c.id.label("agent_id"), sa.func.coalesce(from_seq, 0).label("from_seq")
    ).cte("cutoffs")
    return (
        sa.select(
            agent_events.c.agent_id, agent_events.c.seq, agent_events.c.at, agent_events.c.data
        ).join_from(
            cutoffs,
            agent_events,
            sa.and_(
                agent_events.c.agent_id == cutoffs.c.agent_id,
                agent_events.c.kind == "sample",
                agent_events.c.seq >= cutoffs.c.from_seq,
            ),
            # SQLite keeps a LEFT JOIN's order (agents outside, the index probe inside); a plain
            # join may have it walk the whole log instead. An agent without samples gives one
            # row of NULLs, which the caller skips.
            isouter=True,
        )
        # No ORDER BY either, for the same reason: the caller sorts the few rows.
    )


def reading(metrics: Mapping[str, Any], name: str) -> float | None:
    """``disk_percent`` is the fullest mount (``disk_percent:/var`` …), as host health reads it."""
    if name == "disk_percent":
        values = [
            float(v)
            for k, v in metrics.items()
            if (k == name or k.startswith(f"{name}:")) and isinstance(v, int | float)
        ]
        return max(values) if values else None
    value = metrics.get(name)
    return float(value) if isinstance(value, int | float) else None


def group(rows: Iterable[tuple[str, datetime, Mapping[str, Any]]]) -> dict[str, Series]:
    out: dict[str, Series] = {}
    for agent_id, at, data in rows:
        series = out.setdefault(agent_id, Series())
        metrics = data.get("metrics") or {}
        for name in SHOWN:
            value = reading(metrics, name)
            if value is not None:
                series.values[name].append(value)
        series.first_at = series.first_at or at
        series.last_at = at
    return out


async def recent(conn: AsyncConnection, per_host: int = PER_HOST) -> dict[str, Series]:
    found = [row for row in await conn.execute(recent_query(per_host)) if row.seq is not None]
    rows = sorted(found, key=lambda r: (r.agent_id, r.seq))
    return group((row.agent_id, row.at, row.data) for row in rows)
