"""Escalation timing with 10,000 active escalations: how late steps run against their due time,
and how long an alert takes to become a page, on real hub processes and a real SMTP server.

The store is prepared with N active escalations (incident, escalation row with its policy
snapshot, and the pending step of scheduled work), their next steps due evenly over
``--horizon`` seconds from a moment just after the hubs are up, as a busy hub would hold them.
Then one or two ``bounceback-hub serve`` processes run on it (``--replicas 2`` shares a
PostgreSQL store); each step pages a person by email, delivered to aiosmtpd on loopback. While
they run, new critical alerts arrive over HTTP (round robin over the replicas), and the time from
sending each alert to its page reaching the SMTP server is taken.

Step lateness is ``finished_at - due_at`` of each step due within the measured window, as the hub
recorded it when the step's transaction committed (paging, outbox rows and the next step in it).

    .venv/bin/python bench/escalation.py [--quick] [--backend sqlite|postgres] [--replicas 1|2]

``--quick`` measures a 25-second window (under 60 s in all); PostgreSQL uses
BOUNCEBACK_BENCH_DATABASE_URL (default postgresql://postgres@127.0.0.1:5432/test) and a fresh
schema it drops afterwards. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
import tomli_w
from aiosmtpd.controller import Controller
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from bounceback.api.auth.roles import Role
from bounceback.api.auth.store import Credentials
from bounceback.api.clock import SystemClock
from bounceback.api.escalation.config import EscalationConfig
from bounceback.api.escalation.models import snapshot
from bounceback.api.escalation.steps import STEP, step_key
from bounceback.api.schema import Severity
from bounceback.api.settings import HubSettings, async_database_url
from bounceback.api.store.db import Database
from bounceback.api.store.migrate import migrate
from bounceback.api.store.tables import escalations, incidents, scheduled_work
from bounceback.api.testing import free_port, start_hub_process

PG_URL = os.environ.get(
    "BOUNCEBACK_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
SEED_MINUTES = (15.0, 30.0, 45.0, 60.0, 90.0)


class Sink:
    """The SMTP server's side: when each incident's first page arrived."""

    def __init__(self) -> None:
        self.first_page: dict[int, float] = {}
        self.messages = 0
        self._lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        arrived = time.time()
        content: bytes = envelope.content
        marker = content.find(b"X-Bounceback-Incident: ")
        with self._lock:
            self.messages += 1
            if marker >= 0:
                end = content.find(b"\r\n", marker)
                incident_id = int(content[marker + 23 : end])
                self.first_page.setdefault(incident_id, arrived)
        return "250 OK"


def escalation_config(smtp_port: int) -> EscalationConfig:
    return EscalationConfig.model_validate(
        {
            "smtp": {"host": "127.0.0.1", "port": smtp_port, "security": "none"},
            "people": [{"id": "oncall", "name": "On call", "email": "oncall@example.com"}],
            "policies": [
                {
                    "id": "bench",
                    "name": "Bench",
                    "levels": [
                        {"name": f"L{i}", "targets": ["person:oncall"]} for i in range(1, 6)
                    ],
                }
            ],
        }
    )


async def prepare(
    db: Database, config: EscalationConfig, count: int, first_due: datetime, horizon: float
) -> None:
    """``count`` active escalations at L1, their L2 steps due evenly from ``first_due``."""
    now = datetime.now(UTC)
    taken = snapshot(config.policies[0], Severity.CRITICAL, SEED_MINUTES).model_dump(mode="json")
    chunk = 1000
    for start in range(0, count, chunk):
        ids = range(start + 1, min(count, start + chunk) + 1)
        due = {i: first_due + timedelta(seconds=horizon * (i - 1) / count) for i in ids}
        async with db.transaction() as conn:
            await conn.execute(
                incidents.insert(),
                [
                    {
                        "id": i,
                        "fingerprint": f"bench-{i}",
                        "dedup_key": f"bench-{i}",
                        "state": "triggered",
                        "severity": "critical",
                        "summary": f"bench {i}",
                        "source": "bench",
                        "service": "bench",
                        "labels": {},
                        "alert_count": 1,
                        "created_at": now,
                        "updated_at": now,
                        "last_alert_at": now,
                    }
                    for i in ids
                ],
            )
            await conn.execute(
                escalations.insert(),
                [
                    {
                        "incident_id": i,
                        "policy_id": "bench",
                        "snapshot": taken,
                        "status": "active",
                        "step": 1,
                        "next_step_at": due[i],
                        "level": 0,
                        "reason": "bench",
                        "started_at": now,
                        "updated_at": now,
                    }
                    for i in ids
                ],
            )
            await conn.execute(
                scheduled_work.insert(),
                [
                    {
                        "kind": STEP,
                        "key": step_key(i, 1),
                        "payload": {"incident_id": i, "step": 1},
                        "state": "pending",
                        "due_at": due[i],
                        "attempts": 0,
                        "max_attempts": 10,
                        "created_at": now,
                    }
                    for i in ids
                ],
            )
    if db.dialect == "postgresql":  # explicit ids: move the sequence past them
        async with db.transaction() as conn:
            await conn.execute(sa.text("SELECT setval('incidents_id_seq', :n)"), {"n": count})


async def send_alerts(
    ports: list[int], token: str, until: float, rate: float, sent: dict[int, float]
) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    clients = [httpx.AsyncClient(base_url=f"http://127.0.0.1:{p}", timeout=10) for p in ports]
    n = 0
    try:
        while time.time() < until:
            client = clients[n % len(clients)]
            body = {
                "source": "bench",
                "summary": f"new {n}",
                "severity": "critical",
                "fingerprint": f"new-{uuid.uuid4().hex}",
            }
            began = time.time()
            response = await client.post("/api/alerts", json=body, headers=headers)
            if response.status_code == 202:
                sent[response.json()["incident_id"]] = began
            n += 1
            await asyncio.sleep(max(0.0, 1 / rate - (time.time() - began)))
    finally:
        for client in clients:
            await client.aclose()


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def run(args: argparse.Namespace) -> dict[str, Any]:
    window = 25.0 if args.quick else 120.0
    workdir = Path(tempfile.mkdtemp(prefix="bb-escalation-"))
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin: AsyncEngine | None = None
    if args.backend == "postgres":
        settings = HubSettings(
            bounceback_data_dir=workdir, database_url=PG_URL, bounceback_database_schema=schema
        )
        admin = create_async_engine(async_database_url(PG_URL))
        async with admin.begin() as conn:
            await conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    else:
        settings = HubSettings(bounceback_data_dir=workdir)
    sink = Sink()
    smtp = Controller(sink, hostname="127.0.0.1", port=free_port())
    smtp.start()
    config = escalation_config(smtp.port)
    config_file = workdir / "hub.toml"
    config_file.write_text(
        tomli_w.dumps({"escalation": config.model_dump(mode="json", exclude_none=True)})
    )
    db = Database(settings.sqlalchemy_url, schema=settings.bounceback_database_schema)
    processes: list[subprocess.Popen[bytes]] = []
    try:
        await migrate(db)
        token = await Credentials(db, SystemClock()).create_token("bench", Role.OPERATOR)
        startup = 6.0 * args.replicas
        first_due = datetime.now(UTC) + timedelta(seconds=startup)
        began = time.perf_counter()
        await prepare(db, config, args.escalations, first_due, args.horizon)
        prepared_s = time.perf_counter() - began
        ports = [free_port() for _ in range(args.replicas)]
        for port in ports:
            processes.append(
                await start_hub_process(
                    settings, port, workdir / f"hub-{port}.log", BOUNCEBACK_CONFIG=str(config_file)
                )
            )
        # Measure from the first due step (hubs up), for ``window`` seconds.
        await asyncio.sleep(max(0.0, (first_due - datetime.now(UTC)).total_seconds()))
        window_start = datetime.now(UTC)
        sent: dict[int, float] = {}
        await send_alerts(ports, token, time.time() + window, args.alert_rate, sent)
        window_end = datetime.now(UTC)
        await asyncio.sleep(2.0)  # the last pages in flight
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            process.wait(timeout=60)
        smtp.stop()
    async with db.read() as conn:
        rows = (
            await conn.execute(
                sa.select(scheduled_work.c.due_at, scheduled_work.c.finished_at).where(
                    scheduled_work.c.kind == STEP,
                    scheduled_work.c.due_at >= window_start,
                    scheduled_work.c.due_at < window_end,
                    scheduled_work.c.key.like(f"{STEP}:%:1"),
                )
            )
        ).all()
        active = await conn.scalar(
            sa.select(sa.func.count())
            .select_from(escalations)
            .where(escalations.c.status == "active")
        )
    await db.dispose()
    if admin is not None:
        async with admin.begin() as conn:
            await conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
        await admin.dispose()
    late = [(r.finished_at - r.due_at).total_seconds() for r in rows if r.finished_at]
    unfinished = sum(1 for r in rows if r.finished_at is None)
    first = [(sink.first_page[i] - t) * 1000 for i, t in sent.items() if i in sink.first_page]
    return {
        "bench": "escalation",
        "backend": args.backend,
        "replicas": args.replicas,
        "quick": args.quick,
        "escalations": args.escalations,
        "active_at_end": active,
        "horizon_s": args.horizon,
        "window_s": window,
        "prepare_s": round(prepared_s, 1),
        "steps_measured": len(late),
        "steps_unfinished": unfinished,
        "steps_per_s": round(len(rows) / window, 1),
        "p50_late_s": round(percentile(late, 0.5), 3),
        "p99_late_s": round(percentile(late, 0.99), 3),
        "max_late_s": round(max(late, default=float("nan")), 3),
        "alerts": len(sent),
        "alerts_paged": len(first),
        "first_notify_p50_ms": round(percentile(first, 0.5), 1),
        "first_notify_p99_ms": round(percentile(first, 0.99), 1),
        "emails": sink.messages,
        "targets": {"p99_late_s": 1.0, "first_notify_p99_ms": 250},
        "cpu_count": os.cpu_count(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="a 25 s window, under 60 s in all")
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--replicas", type=int, choices=[1, 2], default=1)
    parser.add_argument("--escalations", type=int, default=10_000)
    parser.add_argument(
        "--horizon",
        type=float,
        default=600.0,
        help="seconds over which the escalations' next steps fall due",
    )
    parser.add_argument("--alert-rate", type=float, default=4.0, help="new alerts per second")
    args = parser.parse_args()
    if args.backend == "sqlite" and args.replicas != 1:
        parser.error("--replicas 2 needs --backend postgres (replicas share a PostgreSQL store)")
    figures = asyncio.run(run(args))
    print(
        f"{figures['escalations']} active escalations on {figures['backend']} x"
        f"{figures['replicas']}: {figures['steps_measured']} steps due in {figures['window_s']} s, "
        f"lateness p50 {figures['p50_late_s']} s p99 {figures['p99_late_s']} s (target <= 1 s); "
        f"alert -> first page p50 {figures['first_notify_p50_ms']} ms "
        f"p99 {figures['first_notify_p99_ms']} ms (target <= 250 ms)"
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
