"""Soak under faults: 1,000 agents and a stream of incidents against two hub replicas on one
PostgreSQL while a chaos loop SIGKILLs a random replica every 30 seconds and starts it again.

Two ``bounceback-hub serve`` processes share a fresh PostgreSQL schema. In this process:

- 1,000 simulated agents (``_fleet.py``) report every 5 s, each to its own replica, retrying a
  report unchanged on the other replica until one acknowledges it;
- an incident driver opens a critical incident every 2 s (round robin over the replicas) and
  resolves each once its whole escalation is behind it; the policy pages Ann on Slack, then Bob
  by SMS, Cy by phone and Dee by email, a level every 15 s, through loopback Slack and Twilio
  servers and an SMTP server (``_partners.py``) that count what arrives;
- the chaos loop kills a random replica with SIGKILL every 30 s and restarts it at once.

After ``--duration`` the chaos stops, the last incidents are resolved, the replicas finish what
they hold, the agents stop and the replicas are stopped. Then the store is read: every
acknowledged report must be there once (lost, duplicated); every escalation level due before
its incident was resolved must have paged once (missed, duplicated); every notification the hub
recorded as sent must have reached its partner once (and nothing more than once).

    .venv/bin/python bench/soak.py [--quick] [--duration 600] [--kill-interval 30]

``--quick`` runs 20 s of load with a kill every 7 s and short timeouts (level 2 s, lease 5 s),
under 60 s in all. PostgreSQL comes from BOUNCEBACK_BENCH_DATABASE_URL (default
postgresql://postgres@127.0.0.1:5432/test). The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import random
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import tomli_w
from _agent_reports import agent_ids
from _fleet import Fleet, FleetTally
from _partners import Partners
from _soak_count import Expected, count
from _support import (
    Replica,
    agent_tokens,
    database,
    percentile,
    pg_schema,
    replicas,
    store_settings,
)

from bounceback.api.auth.roles import Role
from bounceback.api.auth.store import Credentials
from bounceback.api.clock import SystemClock
from bounceback.api.store.migrate import migrate

PEOPLE: list[dict[str, Any]] = [
    {"id": "ann", "name": "Ann", "slack_user_id": "U0ANN", "channels": ["slack"]},
    {"id": "bob", "name": "Bob", "phone": "+15550000002", "channels": ["sms"]},
    {"id": "cy", "name": "Cy", "phone": "+15550000003", "channels": ["phone"]},
    {"id": "dee", "name": "Dee", "email": "dee@example.com", "channels": ["email"]},
]
LEVELS = [("L1", "ann"), ("L2", "bob"), ("L3", "cy"), ("L4", "dee")]


def hub_toml(path: Path, smtp_port: int, level_s: float) -> Path:
    """Only the soak's incidents escalate (label soak=yes): not, say, silent agents'."""
    policy = {
        "id": "soak",
        "name": "Soak",
        "route": {"labels": {"soak": "yes"}},
        "levels": [
            {"name": name, "timeout_minutes": level_s / 60, "targets": [f"person:{person}"]}
            for name, person in LEVELS
        ],
    }
    escalation = {
        "smtp": {"host": "127.0.0.1", "port": smtp_port, "security": "none"},
        "people": PEOPLE,
        "policies": [policy],
    }
    path.write_text(tomli_w.dumps({"escalation": escalation}))
    return path


@dataclass
class Incident:
    id: int
    opened_at: float
    resolved_at: float | None = None


@dataclass
class Driver:
    """Opens incidents and resolves each ``resolve_after`` seconds later, over any replica."""

    urls: list[str]
    token: str
    run: str
    incidents: list[Incident] = field(default_factory=list)
    failed_attempts: int = 0
    _resolving: set[asyncio.Task[None]] = field(default_factory=set)

    async def call(self, client: httpx.AsyncClient, path: str, body: dict[str, Any]) -> Any:
        """POST until a replica answers 2xx (409 for a resolve: someone resolved it already)."""
        replica = random.randrange(len(self.urls))
        headers = {"Authorization": f"Bearer {self.token}"}
        while True:
            try:
                response = await client.post(self.urls[replica] + path, json=body, headers=headers)
                if response.is_success or response.status_code == 409:
                    return response.json()
            except httpx.HTTPError:
                pass
            self.failed_attempts += 1
            replica = (replica + 1) % len(self.urls)
            await asyncio.sleep(0.2)

    async def open(self, stop: asyncio.Event, every: float, resolve_after: float) -> None:
        async with httpx.AsyncClient(timeout=10) as client:
            n = 0
            while not stop.is_set():
                n += 1
                alert = {
                    "source": "soak",
                    "summary": f"checkout latency {n}",
                    "severity": "critical",
                    "fingerprint": f"soak-{self.run}-{n}",
                    "labels": {"soak": "yes", "service": "checkout"},
                }
                answer = await self.call(client, "/api/alerts", alert)
                incident = Incident(int(answer["incident_id"]), time.time())
                self.incidents.append(incident)
                task = asyncio.create_task(self._resolve(incident, resolve_after))
                self._resolving.add(task)
                task.add_done_callback(self._resolving.discard)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), every)
            await self.finish()

    async def _resolve(self, incident: Incident, after: float) -> None:
        await asyncio.sleep(max(0.0, incident.opened_at + after - time.time()))
        async with httpx.AsyncClient(timeout=10) as client:
            await self.call(client, f"/api/incidents/{incident.id}/resolve", {})
        incident.resolved_at = time.time()

    async def finish(self) -> None:
        while self._resolving:
            await asyncio.wait(list(self._resolving))


async def chaos(
    group: list[Replica], every: float, stop: asyncio.Event, kills: list[float]
) -> None:
    """SIGKILL a random replica every ``every`` seconds (the first after half of that) and start
    it again at once; the cadence holds however long a restart takes."""
    began = time.monotonic()
    while True:
        due = began + every * (len(kills) + 0.5)
        try:
            await asyncio.wait_for(stop.wait(), max(0.0, due - time.monotonic()))
            return
        except TimeoutError:
            pass
        victim = random.choice(group)
        victim.kill()
        kills.append(time.time())
        await victim.start()


async def run(args: argparse.Namespace) -> dict[str, Any]:
    level_s, lease_s = (2.0, 5.0) if args.quick else (args.level_seconds, args.lease)
    # The last level is due well before the resolution, even when a replica died holding it.
    resolve_after = (len(LEVELS) - 1) * level_s + lease_s + 5
    ids = agent_ids(args.agents)
    run_id = f"{int(time.time())}"
    fleet_tally = FleetTally()
    kills: list[float] = []
    began = time.time()
    with tempfile.TemporaryDirectory(prefix="bench-soak-") as scratch:
        workdir = Path(scratch)
        async with pg_schema() as schema, Partners().running() as partners:
            settings = store_settings(workdir, schema)
            db = database(settings)
            await migrate(db)
            operator = await Credentials(db, SystemClock()).create_token("soak", Role.OPERATOR)
            tokens = await agent_tokens(db, ids)
            config = hub_toml(workdir / "hub.toml", partners.smtp_port, level_s)
            env = {
                **partners.hub_environment(),
                "BOUNCEBACK_CONFIG": str(config),
                "BOUNCEBACK_WORK_LEASE_SECONDS": str(lease_s),
                "BOUNCEBACK_LOG_LEVEL": "WARNING",
            }
            group = replicas(settings, 2, workdir, **env)
            for replica in group:
                await replica.start()
            urls = [replica.url for replica in group]
            # Agents start over the silence window (30 s), as a fleet does over time, so that
            # their silence checks do not all fall due together.
            ramp = min(30.0, args.duration / 2)
            fleet = Fleet(urls, tokens, args.interval, fleet_tally, ramp=ramp)
            driver = Driver(urls, operator, run_id)
            stop_chaos, stop_incidents = asyncio.Event(), asyncio.Event()
            agents = asyncio.create_task(fleet.run())
            opening = asyncio.create_task(
                driver.open(stop_incidents, args.incident_every, resolve_after)
            )
            chaos_task = asyncio.create_task(chaos(group, args.kill_interval, stop_chaos, kills))
            try:
                await asyncio.sleep(args.duration)
                load_ended = time.time()
                stop_chaos.set()
                stop_incidents.set()
                await chaos_task
                await opening  # every incident resolved
                # What the replicas hold (a lease of a killed replica runs out) gets done.
                await asyncio.sleep(lease_s + 3)
                fleet.stop()
                await agents
            finally:
                for task in (chaos_task, opening, agents):
                    task.cancel()
                for replica in group:
                    replica.stop()
                warnings = sum(
                    replica.log.read_text(errors="replace").count(" WARNING ") for replica in group
                )
                errors = sum(
                    replica.log.read_text(errors="replace").count(" ERROR ") for replica in group
                )
                if args.keep_logs:
                    args.keep_logs.mkdir(parents=True, exist_ok=True)
                    for replica in group:
                        shutil.copy(replica.log, args.keep_logs / replica.log.name)
            expected = Expected(
                levels=LEVELS,
                level_s=level_s,
                incidents=[(i.id, i.opened_at, i.resolved_at) for i in driver.incidents],
                acknowledged=fleet_tally.acknowledged,
                people={str(p["id"]): p for p in PEOPLE},
            )
            counted = await count(db, expected, partners.deliveries)
            await db.dispose()
    tally = fleet_tally
    latencies = sorted(tally.latencies)
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] if latencies else 0.0
    return {
        "bench": "soak",
        "quick": args.quick,
        "duration_s": args.duration,
        "wall_s": round(time.time() - began, 1),
        "replicas": 2,
        "agents": args.agents,
        "report_interval_s": args.interval,
        "kill_interval_s": args.kill_interval,
        "kills": len(kills),
        "level_s": level_s,
        "lease_s": lease_s,
        "reports_sent": tally.sent,
        "reports_acknowledged": len(tally.acknowledged),
        "report_attempts": tally.attempts,
        "failed_attempts": tally.failed_attempts,
        "replays": tally.replays,
        "unacknowledged": tally.unacknowledged,
        "ingest_p50_ms": round(latencies[len(latencies) // 2] * 1000, 1) if latencies else None,
        "ingest_p99_ms": round(p99 * 1000, 1),
        "latency_windows": windows(tally.answered_at, tally.latencies),
        "incidents": len(driver.incidents),
        "driver_failed_attempts": driver.failed_attempts,
        "load_ended_after_s": round(load_ended - began, 1),
        "hub_log_warnings": warnings,
        "hub_log_errors": errors,
        **counted,
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
    }


def windows(at: list[float], latencies: list[float], width: float = 5.0) -> list[list[float]]:
    """[start s, count, p50 ms, p99 ms] per ``width`` seconds of the run."""
    if not at:
        return []
    start = min(at)
    buckets: dict[int, list[float]] = {}
    for when, latency in zip(at, latencies, strict=True):
        buckets.setdefault(int((when - start) // width), []).append(latency)
    return [
        [k * width, len(v), round(percentile(v, 0.5) * 1000), round(percentile(v, 0.99) * 1000)]
        for k, v in sorted(buckets.items())
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="20 s of load, under 60 s in all")
    parser.add_argument("--duration", type=float, default=600.0, help="seconds of load")
    parser.add_argument("--kill-interval", type=float, default=30.0, help="seconds between kills")
    parser.add_argument("--agents", type=int, default=1000)
    parser.add_argument("--interval", type=float, default=5.0, help="agent report interval (s)")
    parser.add_argument("--incident-every", type=float, default=2.0, help="seconds")
    parser.add_argument("--level-seconds", type=float, default=15.0, help="escalation timeout")
    parser.add_argument("--lease", type=float, default=30.0, help="BOUNCEBACK_WORK_LEASE_SECONDS")
    parser.add_argument("--keep-logs", type=Path, help="copy the replicas' logs to this folder")
    args = parser.parse_args()
    if args.quick:
        args.duration = min(args.duration, 20.0)
        args.kill_interval = min(args.kill_interval, 7.0)
    figures = asyncio.run(run(args))
    print(
        f"{figures['duration_s']:.0f} s, 2 replicas, {figures['kills']} kills: reports sent "
        f"{figures['reports_sent']}, received {figures['received']}, lost {figures['lost']}, "
        f"duplicated {figures['duplicated']}; escalation steps due {figures['steps_due']}, "
        f"fired {figures['steps_fired']}, missed {figures['missed_steps']}, duplicated "
        f"{figures['duplicated_steps']}; notifications sent {figures['notifications_sent']}, "
        f"received {figures['notifications_received']}, duplicated "
        f"{figures['duplicated_notifications']} (found at the provider after an interrupted "
        f"attempt {figures['found_after_interruption']}, emails resent under their Message-ID "
        f"{figures['emails_resent_same_message_id']}); ingest p50 {figures['ingest_p50_ms']} ms, "
        f"p99 {figures['ingest_p99_ms']} ms"
    )
    print(json.dumps(figures))
    if os.environ.get("SOAK_DEBUG"):
        print(json.dumps(figures.get("latency_windows")))


if __name__ == "__main__":
    main()
