"""Retention: how fast a pass prunes a backlog, what an hourly pass costs once caught up, and how
long writers wait meanwhile; SQLite and PostgreSQL in the same run.

Each store is filled with 28 days of agent events from 100 agents (ids growing with time, as the
hub writes them), one agent-report audit record per two events, other audit records over 400
days and finished scheduled work over 14 days. Then, with the default retention (events 14 days,
audit 365, work 7):

- the backlog pass (``bounceback.api.retention.prune``, batches of 2,000 in their own
  transactions) deletes everything past retention, timed, while a writer commits one audit
  record per transaction without pause; the writer's commit latency is measured during the pass
  and, for comparison, for as long before it;
- an hour later (an hour of new rows added, the cut-offs an hour on), the steady pass is timed;
- the rows left are checked: exactly those inside retention.

    .venv/bin/python bench/retention.py [--quick] [--events N] [--backend sqlite|postgres|both]

PostgreSQL comes from BOUNCEBACK_BENCH_DATABASE_URL (default
postgresql://postgres@127.0.0.1:5432/test), in a fresh schema dropped afterwards. The last line
is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import platform
import tempfile
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from _support import database, percentile, pg_schema, store_settings

from bounceback.api.retention import prune
from bounceback.api.retention.policy import RetentionPolicy, cutoffs
from bounceback.api.store.db import Database
from bounceback.api.store.migrate import migrate
from bounceback.api.store.tables import agent_events, agents, audit_log, scheduled_work

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
POLICY = RetentionPolicy(agent_events_days=14, audit_days=365, work_days=7)
AGENTS = 100
CHUNK = 5000


class Filler:
    """Rows in time order, so that ids grow with time as the hub writes them."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.seq = 0
        self.work = 0

    async def agents(self) -> None:
        async with self.db.transaction() as conn:
            await conn.execute(
                agents.insert(),
                [
                    {
                        "id": f"host-{i}",
                        "hostname": f"host-{i}",
                        "version": "0.1.0",
                        "interval_seconds": 5.0,
                        "self_healing_enabled": True,
                        "dry_run": False,
                        "actions": [],
                        "last_metrics": {},
                        "last_checks": {},
                        "first_seen": NOW - timedelta(days=30),
                        "last_seen": NOW,
                        "last_seq": 0,
                        "reports": 0,
                        "events_lost": 0,
                        "silence_check": 0,
                    }
                    for i in range(AGENTS)
                ],
            )

    async def events(
        self, count: int, start: datetime, end: datetime, other_audit_every: int = 20
    ) -> None:
        """``count`` events over [start, end), one agent-report audit record per two events and
        another audit record per ``other_audit_every`` events, all in time order."""
        step = (end - start) / max(1, count)
        for first in range(0, count, CHUNK):
            n = min(CHUNK, count - first)
            at = [start + step * (first + i) for i in range(n)]
            event_rows = []
            for i, when in enumerate(at):
                self.seq += 1
                event_rows.append(
                    {
                        "agent_id": f"host-{self.seq % AGENTS}",
                        "seq": self.seq,
                        "kind": "sample" if i % 2 else "check",
                        "at": when,
                        "received_at": when,
                        "data": {"memory_percent": 41.5, "cpu_percent": 12.0},
                    }
                )
            audit_rows = [
                _audit("agent.report" if i % other_audit_every else "incident.acknowledge", when)
                for i, when in enumerate(at)
                if i % 2 == 0 or i % other_audit_every == 0
            ]
            async with self.db.transaction() as conn:
                await conn.execute(agent_events.insert(), event_rows)
                await conn.execute(audit_log.insert(), audit_rows)

    async def other_audit(self, count: int, start: datetime, end: datetime) -> None:
        step = (end - start) / max(1, count)
        rows = [_audit("incident.acknowledge", start + step * i) for i in range(count)]
        for first in range(0, count, CHUNK):
            async with self.db.transaction() as conn:
                await conn.execute(audit_log.insert(), rows[first : first + CHUNK])

    async def finished_work(self, count: int, start: datetime, end: datetime) -> None:
        step = (end - start) / max(1, count)
        rows = []
        for i in range(count):
            self.work += 1
            due = start + step * i
            rows.append(
                {
                    "kind": "escalation.step",
                    "key": f"bench:{self.work}",
                    "payload": {},
                    "state": "done",
                    "due_at": due,
                    "attempts": 1,
                    "max_attempts": 5,
                    "created_at": due,
                    "finished_at": due + timedelta(seconds=1),
                }
            )
        for first in range(0, count, CHUNK):
            async with self.db.transaction() as conn:
                await conn.execute(scheduled_work.insert(), rows[first : first + CHUNK])


def _audit(action: str, at: datetime) -> dict[str, Any]:
    return {
        "at": at,
        "actor": "bench",
        "action": action,
        "target": "-",
        "outcome": "ok",
        "request_id": "bench",
        "details": {},
    }


class Writer:
    """Commits one audit record per transaction, back to back, timing each commit."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.latencies: list[float] = []
        self.stop = asyncio.Event()

    async def run(self) -> None:
        while not self.stop.is_set():
            began = time.perf_counter()
            async with self.db.transaction() as conn:
                await conn.execute(audit_log.insert().values(_audit("token.create", NOW)))
            self.latencies.append(time.perf_counter() - began)
            await asyncio.sleep(0.005)


async def writer_latency(db: Database, during: Any) -> tuple[dict[str, float], Any]:
    writer = Writer(db)
    task = asyncio.create_task(writer.run())
    try:
        result = await during
    finally:
        writer.stop.set()
        await task
    lat = writer.latencies
    return (
        {
            "commits": len(lat),
            "p50_ms": round(percentile(lat, 0.5) * 1000, 2),
            "p99_ms": round(percentile(lat, 0.99) * 1000, 2),
            "max_ms": round(max(lat, default=float("nan")) * 1000, 2),
        },
        result,
    )


async def counts(db: Database) -> dict[str, int]:
    async with db.read() as conn:
        out = {}
        for name, table in (
            ("agent_events", agent_events),
            ("audit_log", audit_log),
            ("scheduled_work", scheduled_work),
        ):
            out[name] = int(
                (await conn.execute(sa.select(sa.func.count()).select_from(table))).scalar_one()
            )
        return out


async def run_backend(name: str, db: Database, events: int) -> dict[str, Any]:
    await migrate(db)
    filler = Filler(db)
    began = time.perf_counter()
    await filler.agents()
    # A year and more of other audit records before the agents came, then 28 days of agent
    # events (half past the 14-day retention) with their audit records, in time order.
    await filler.other_audit(events // 20, NOW - timedelta(days=400), NOW - timedelta(days=28))
    await filler.events(events, NOW - timedelta(days=28), NOW)
    await filler.finished_work(events // 20, NOW - timedelta(days=14), NOW)
    fill_s = time.perf_counter() - began
    before = await counts(db)
    limits = cutoffs(POLICY, NOW)
    expected = await prune.count(db, limits)

    idle, _ = await writer_latency(db, asyncio.sleep(3))
    started = time.perf_counter()
    during, deleted = await writer_latency(db, prune.prune(db, limits))
    backlog_s = time.perf_counter() - started
    assert deleted == expected, (deleted, expected)
    left = await prune.count(db, limits)
    assert not any(left.values()), left

    # An hour later: an hour of new rows at the same rate; the cut-offs move an hour on.
    hour = timedelta(hours=1)
    await filler.events(round(events / (28 * 24)), NOW, NOW + hour)
    later = cutoffs(POLICY, NOW + hour)
    due = await prune.count(db, later)
    started = time.perf_counter()
    steady = await prune.prune(db, later)
    steady_s = time.perf_counter() - started
    assert steady == due, (steady, due)
    total = sum(deleted.values())
    print(
        f"{name}: filled {sum(before.values()):,} rows in {fill_s:.1f} s; backlog pass deleted "
        f"{total:,} rows in {backlog_s:.2f} s ({total / backlog_s:,.0f} rows/s); writer commit "
        f"p99 {during['p99_ms']} ms during it (max {during['max_ms']}), {idle['p99_ms']} ms "
        f"before; hourly pass {steady_s * 1000:.1f} ms for {sum(steady.values()):,} rows"
    )
    return {
        "rows_before": before,
        "deleted": deleted,
        "backlog_rows": total,
        "backlog_s": round(backlog_s, 3),
        "rows_per_s": round(total / backlog_s),
        "writer_during": during,
        "writer_idle": idle,
        "hourly_pass_ms": round(steady_s * 1000, 1),
        "hourly_pass_rows": sum(steady.values()),
        "fill_s": round(fill_s, 1),
        "exact": True,
    }


@contextlib.asynccontextmanager
async def store(backend: str, workdir: Path) -> AsyncIterator[Database]:
    if backend == "sqlite":
        db = database(store_settings(workdir, None))
        try:
            yield db
        finally:
            await db.dispose()
        return
    async with pg_schema() as schema:
        db = database(store_settings(workdir, schema))
        try:
            yield db
        finally:
            await db.dispose()


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    events = args.events or (60_000 if args.quick else 1_000_000)
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    results: dict[str, Any] = {}
    for backend in backends:
        with tempfile.TemporaryDirectory() as scratch:
            async with store(backend, Path(scratch)) as db:
                results[backend] = await run_backend(backend, db, events)
    return {
        "bench": "retention",
        "quick": args.quick,
        "events": events,
        "batch": prune.BATCH,
        **results,
        "python": platform.python_version(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="60,000 events instead of 1,000,000")
    parser.add_argument("--events", type=int, default=None)
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(main_async(args))))


if __name__ == "__main__":
    main()
