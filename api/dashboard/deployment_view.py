"""What a deployment's page shows beyond its row: the readings the judge compared, drawn per
metric as baseline vs after-deploy lines with the deploy as a marker, and the verdict's table.

The readings are split exactly as ``deployments/watcher.py`` splits them: probes of round 0 or
taken before the deploy are the baseline, probes from the start of monitoring are judged, those
in between (warm-up and stabilization) are drawn but were never judged; agent samples of the
target's hosts from ``agent_baseline_minutes`` before tracking until the deploy are the baseline.
The table's cells are formatted like the guard's job summary (``guard/summary.py``).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

import sqlalchemy as sa
from markupsafe import Markup
from sqlalchemy.ext.asyncio import AsyncConnection

from bounceback.api.dashboard.charts import Series, line_chart
from bounceback.api.deployment_wire import Verdict, VerdictOutcome
from bounceback.api.deployments import store
from bounceback.api.deployments.engine import Engine
from bounceback.api.deployments.lifecycle import schedule_of
from bounceback.api.deployments.samples import AGENT_METRICS, LATENCY
from bounceback.api.deployments.store import DeploymentRow
from bounceback.api.store.tables import agent_events
from bounceback.api.verdict_cells import number, statistics_cell, with_n

MAX_POINTS = 120  # per chart: readings beyond that are averaged over equal time buckets


class Phase(StrEnum):
    BASELINE = "baseline"
    AFTER = "after deploy (judged)"
    SETTLING = "warm-up (not judged)"


@dataclass(frozen=True)
class Reading:
    at: datetime
    value: float
    phase: Phase


@dataclass(frozen=True)
class Windows:
    deployed_at: datetime | None
    monitoring_starts: datetime | None

    def phase(self, at: datetime, *, baseline_round: bool = False) -> Phase:
        if baseline_round or self.deployed_at is None or at < self.deployed_at:
            return Phase.BASELINE
        if self.monitoring_starts is not None and at >= self.monitoring_starts:
            return Phase.AFTER
        return Phase.SETTLING


def windows_of(engine: Engine, row: DeploymentRow) -> Windows:
    if row.deployed_at is None:
        return Windows(None, None)
    return Windows(row.deployed_at, schedule_of(engine, row).monitoring_starts)


def probe_readings(probes: Sequence[store.Probe], windows: Windows) -> dict[str, list[Reading]]:
    """Latency of every answered request; the error share of each probe round."""
    latency = [
        Reading(p.at, p.latency_ms, windows.phase(p.at, baseline_round=p.round_number == 0))
        for p in probes
        if p.latency_ms is not None
    ]
    rounds: dict[int, list[store.Probe]] = defaultdict(list)
    for probe in probes:
        rounds[probe.round_number].append(probe)
    errors = []
    for round_number, members in sorted(rounds.items()):
        at = min(p.at for p in members)
        share = sum(1 for p in members if not p.ok) / len(members)
        errors.append(Reading(at, share, windows.phase(at, baseline_round=round_number == 0)))
    found: dict[str, list[Reading]] = {}
    if probes:
        found["errors"] = errors
        found[LATENCY] = latency
    return found


async def agent_readings(
    conn: AsyncConnection, engine: Engine, row: DeploymentRow, windows: Windows, until: datetime
) -> dict[str, list[Reading]]:
    if not row.hosts:
        return {}
    since = row.created_at - timedelta(minutes=engine.config.agent_baseline_minutes)
    rows = await conn.execute(
        sa.select(agent_events.c.at, agent_events.c.data)
        .where(
            agent_events.c.agent_id.in_(list(row.hosts)),
            agent_events.c.kind == "sample",
            agent_events.c.at >= since,
            agent_events.c.at <= until,
        )
        .order_by(agent_events.c.at)
    )
    found: dict[str, list[Reading]] = {}
    for at, data in rows:
        metrics = data.get("metrics") if isinstance(data, dict) else None
        if not isinstance(metrics, dict):
            continue
        for name in AGENT_METRICS:
            value = metrics.get(name)
            if isinstance(value, int | float) and not isinstance(value, bool):
                found.setdefault(name, []).append(Reading(at, float(value), windows.phase(at)))
    return found


async def readings(
    conn: AsyncConnection, engine: Engine, row: DeploymentRow
) -> dict[str, list[Reading]]:
    windows = windows_of(engine, row)
    probes = await store.probes_between(conn, row.id, None, None)
    until = row.finished_at or engine.clock.now()
    return {
        **probe_readings(probes, windows),
        **await agent_readings(conn, engine, row, windows, until),
    }


def _thin(points: list[tuple[float, float]], low: float, width: float) -> list[tuple[float, float]]:
    buckets: dict[int, list[tuple[float, float]]] = defaultdict(list)
    for x, y in points:
        buckets[math.floor((x - low) / width)].append((x, y))
    return [
        (sum(x for x, _ in members) / len(members), sum(y for _, y in members) / len(members))
        for _, members in sorted(buckets.items())
    ]


def series(found: Sequence[Reading], limit: int = MAX_POINTS) -> list[Series]:
    """One line per phase (in the order baseline, after, warm-up), each thinned to at most
    ``limit`` points by averaging over equal time buckets (several hosts' samples average)."""
    if not found:
        return []
    xs = [r.at.timestamp() for r in found]
    low, high = min(xs), max(xs)
    width = (high - low) / limit if high > low else 1.0
    lines = []
    for phase in (Phase.BASELINE, Phase.AFTER, Phase.SETTLING):
        points = sorted((r.at.timestamp(), r.value) for r in found if r.phase is phase)
        if points:
            thinned = points if len(found) <= limit else _thin(points, low, width)
            lines.append(Series(phase.value, thinned))
    return lines


UNITS = {"cpu_percent": "%", "memory_percent": "%"}  # latency_ms says its unit; labels stay short
TITLES = {
    "errors": "errors · failed share per probe round",
    LATENCY: "latency_ms · per probe request",
    "cpu_percent": "cpu_percent · hosts averaged",
    "memory_percent": "memory_percent · hosts averaged",
}


def charts(found: dict[str, list[Reading]], deployed_at: datetime | None) -> list[Markup]:
    drawn = []
    for name in ("errors", LATENCY, *AGENT_METRICS):
        values = found.get(name)
        if not values:
            continue
        first, last = min(r.at for r in values), max(r.at for r in values)
        # The deploy is named in the title: a label on the marker would run into the legend.
        marked = f" · dashed: deploy {deployed_at:%H:%M:%S}" if deployed_at else ""
        drawn.append(
            line_chart(
                series(values),
                title=TITLES[name] + marked,
                unit=UNITS.get(name, ""),
                y_min=0,
                x_labels=(first.strftime("%H:%M:%S"), last.strftime("%H:%M:%S UTC")),
                marker_x=deployed_at.timestamp() if deployed_at else None,
            )
        )
    return drawn


# -- the verdict's table, cell by cell as guard/summary.py writes it ---------------------------


@dataclass(frozen=True)
class VerdictRow:
    name: str
    baseline: str
    after: str
    ratio: str
    test: str
    threshold: str
    outcome: VerdictOutcome
    explanation: str


def verdict_rows(verdict: Verdict | None) -> list[VerdictRow]:
    if verdict is None:
        return []
    return [
        VerdictRow(
            name=m.name,
            baseline=with_n(m.baseline, m.baseline_n),
            after=with_n(m.current, m.current_n),
            ratio=number(m.ratio),
            test=statistics_cell(m),
            threshold=number(m.threshold),
            outcome=m.outcome,
            explanation=m.explanation,
        )
        for m in verdict.metrics
    ]
