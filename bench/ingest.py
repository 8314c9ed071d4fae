"""Durable alert intake and agent reports against a bare Starlette app, side by side in the same
run.

Two servers run as subprocesses on 127.0.0.1 under the same uvicorn settings (the hub's own
``uvicorn_config``: one worker, access log off): the hub (``bounceback-hub serve`` on a fresh
SQLite data dir) and ``bench/bare_app.py``, which reads the body and answers "ok". The same load
generator drives both, in alternating rounds: N keep-alive HTTP/1.1 connections on raw asyncio
sockets, each sending a prebuilt ``POST /api/alerts`` and reading the response by its
Content-Length before sending the next. The alerts come from a pool of fingerprints, so most
update an open incident, some resolve one and some open a new one.

The hub answers 202 only after the alert's transaction committed. The bench checks that: once the
load has stopped and every response is in, the hub is killed with SIGKILL (no chance to flush
anything at shutdown) and the rows in its SQLite file must match the 2xx answers exactly: one
audit row per request, one timeline entry per created or updated incident, one incident per
"created", one alert counted per firing alert.

    .venv/bin/python bench/ingest.py [--quick] [--concurrency 64] [--sqlite-synchronous NORMAL]

``--agent-reports`` measures the agent protocol instead: ``POST /api/agents/{id}/reports`` from
1,000 agents (``--agents``), each report a metrics sample and three check readings with the
agent's next sequence numbers and its own token, against the bare app, one hub on SQLite and two
hub replicas sharing one PostgreSQL schema, in alternating rounds with the same 64 connections.
With two replicas each agent keeps to one of them, as behind a load balancer (agents 0, 2, 4, …
on the first); every agent reports once before the rounds. Afterwards every hub is SIGKILLed and
each store must hold exactly the events its answers said were accepted, and one audit record per
answered report.

    .venv/bin/python bench/ingest.py --agent-reports [--quick] [--agents 1000]

PostgreSQL comes from BOUNCEBACK_BENCH_DATABASE_URL (default
postgresql://postgres@127.0.0.1:5432/test), in a fresh schema dropped afterwards. The last line
is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import json
import os
import platform
import random
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path
from typing import Any

from _agent_reports import SEQS_PER_AGENT, AgentReports, agent_ids
from _agent_reports import stored as stored_reports
from _load import Pick, Prebuilt, Round, Tally, Target, drive, send_all
from _support import agent_tokens, database, pg_schema, replicas, store_settings

from bounceback.api.store.db import SQLITE_SYNCHRONOUS
from bounceback.api.store.migrate import migrate
from bounceback.api.testing import free_port

BENCH = Path(__file__).resolve().parent
VENV_BIN = Path(sys.executable).parent
FINGERPRINTS = 500
RESOLVED_SHARE = 0.03  # resolves close incidents, so later alerts for them open new ones
REQUESTS = 4096  # distinct prebuilt requests, cycled through
SEVERITIES = ("critical", "high", "medium", "low", "info")
SEVERITY_WEIGHTS = (1, 3, 6, 3, 1)


# The alerts -------------------------------------------------------------------------------------


def alert_requests(port: int, key: str, seed: int) -> list[Prebuilt]:
    rng = random.Random(seed)
    built = []
    for _ in range(REQUESTS):
        n = rng.randrange(FINGERPRINTS)
        firing = rng.random() >= RESOLVED_SHARE
        alert: dict[str, Any] = {
            "source": f"prometheus-{n % 7}",
            "summary": f"{['HighLatency', 'DiskFull', 'ErrorRate', 'Down'][n % 4]} on node-{n}",
            "severity": rng.choices(SEVERITIES, SEVERITY_WEIGHTS)[0],
            "status": "firing" if firing else "resolved",
            "labels": {
                "alertname": ["HighLatency", "DiskFull", "ErrorRate", "Down"][n % 4],
                "instance": f"node-{n}:9100",
                "service": f"svc-{n % 23}",
                "env": "prod",
            },
        }
        if n % 5 == 0:
            alert["fingerprint"] = f"bench-{n}"
        body = json.dumps(alert).encode()
        head = (
            f"POST /api/alerts HTTP/1.1\r\n"
            f"Host: 127.0.0.1:{port}\r\n"
            f"User-Agent: bounceback-bench\r\n"
            f"Authorization: Bearer {key}\r\n"
            f"Content-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        built.append(Prebuilt(head + body, firing))
    return built


def cycle(requests: list[Prebuilt]) -> Pick:
    return lambda n: requests[n % len(requests)]


# The servers ------------------------------------------------------------------------------------


def hub_command(data_dir: Path, port: int, synchronous: str | None) -> list[str]:
    serve = ["serve", "--data-dir", str(data_dir), "--port", str(port)]
    if synchronous is None:
        return [str(VENV_BIN / "bounceback-hub"), *serve]
    # The same CLI, with the store's synchronous setting changed first (for comparison only).
    code = (
        "import sys; import bounceback.api.store.db as db; "
        f"db.SQLITE_SYNCHRONOUS = {synchronous!r}; "
        "from bounceback.api.cli import main; sys.argv[0] = 'bounceback-hub'; main()"
    )
    return [sys.executable, "-c", code, *serve]


def server_env() -> dict[str, str]:
    """The environment without any hub setting but those the bench chooses."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("BOUNCEBACK_") and name != "DATABASE_URL"
    }
    env["BOUNCEBACK_ACCESS_LOG"] = "false"
    env["BOUNCEBACK_LOG_LEVEL"] = "WARNING"
    return env


def start(command: list[str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=server_env())


def server_failed(port: int, log: Path, what: str) -> SystemExit:
    return SystemExit(f"server on port {port} {what}:\n{log.read_text()}")


async def wait_listening(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise server_failed(port, log, "exited")
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.05)
            continue
        writer.close()
        await writer.wait_closed()
        return
    raise server_failed(port, log, "did not start")


def cli(*args: str) -> str:
    done = subprocess.run(
        [str(VENV_BIN / "bounceback-hub"), *args],
        env=server_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip().splitlines()[-1]


async def intake_counters(port: int, token: str) -> dict[str, Any]:
    """The hub's own count of alerts and commits since it started (its overview route)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        f"GET /api/auto-recovery/overview HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Authorization: Bearer {token}\r\nConnection: close\r\n\r\n".encode()
    )
    response = await reader.read()
    writer.close()
    intake: dict[str, Any] = json.loads(response.partition(b"\r\n\r\n")[2])["subsystems"]["intake"]
    return intake


def stop(process: subprocess.Popen[bytes], how: signal.Signals) -> None:
    if process.poll() is None:
        process.send_signal(how)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def stored_counts(database: Path) -> dict[str, int]:
    with contextlib.closing(sqlite3.connect(database)) as conn:

        def one(sql: str) -> int:
            value = conn.execute(sql).fetchone()[0]
            return int(value or 0)

        return {
            "audit_rows": one("SELECT count(*) FROM audit_log WHERE action = 'alert.generic'"),
            "timeline_rows": one("SELECT count(*) FROM incident_events"),
            "incidents": one("SELECT count(*) FROM incidents"),
            "alert_count_sum": one("SELECT sum(alert_count) FROM incidents"),
            "open_incidents": one("SELECT count(*) FROM incidents WHERE state != 'resolved'"),
        }


# The run ----------------------------------------------------------------------------------------


def implementation() -> dict[str, str]:
    """What uvicorn's "auto" picks in this environment (both servers run here)."""
    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    http = "httptools" if importlib.util.find_spec("httptools") else "h11"
    return {"loop": loop, "http": http, "uvicorn": version("uvicorn")}


async def run(args: argparse.Namespace) -> dict[str, Any]:
    rounds, warmup, seconds = (2, 1.0, 5.0) if args.quick else (3, 2.0, 15.0)
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as scratch:
        data_dir = Path(scratch) / "hub"
        key = cli(
            "integration", "create", "--kind", "generic", "--name", "bench", "--data-dir",
            str(data_dir),
        )  # fmt: skip
        viewer = cli(
            "token", "create", "--role", "viewer", "--name", "bench", "--data-dir", str(data_dir)
        )
        hub_port, bare_port = free_port(), free_port()
        hub_log, bare_log = Path(scratch) / "hub.log", Path(scratch) / "bare.log"
        hub = start(hub_command(data_dir, hub_port, args.sqlite_synchronous), hub_log)
        bare = start(
            [sys.executable, str(BENCH / "bare_app.py"), "--port", str(bare_port)], bare_log
        )
        try:
            await wait_listening(hub_port, hub, hub_log)
            await wait_listening(bare_port, bare, bare_log)
            targets = {
                "bare": (bare_port, bare.pid, alert_requests(bare_port, key, seed=1)),
                "hub": (hub_port, hub.pid, alert_requests(hub_port, key, seed=1)),
            }
            tallies = {name: Tally() for name in targets}
            results: dict[str, list[Round]] = {name: [] for name in targets}
            for _ in range(rounds):
                for name, (port, pid, requests) in targets.items():
                    results[name].append(
                        await drive(
                            [Target(port, pid, cycle(requests), len(requests))],
                            tallies[name],
                            connections=args.concurrency,
                            warmup=warmup,
                            seconds=seconds,
                        )
                    )
            intake = await intake_counters(hub_port, viewer)
            # Every response is in: whatever was acknowledged must already be on disk.
            stop(hub, signal.SIGKILL)
            stored = stored_counts(data_dir / "bounceback.db")
        finally:
            stop(hub, signal.SIGKILL)
            stop(bare, signal.SIGTERM)

    def rate(name: str) -> float:
        rs = results[name]
        return sum(r.ok for r in rs) / sum(r.seconds for r in rs)

    hub_tally = tallies["hub"]
    expected = {
        "audit_rows": hub_tally.ok,
        "timeline_rows": hub_tally.actions["created"] + hub_tally.actions["updated"],
        "incidents": hub_tally.actions["created"],
        "alert_count_sum": hub_tally.firing_ok,
    }
    durable = all(stored[k] == v for k, v in expected.items())
    bare_rps, hub_rps = rate("bare"), rate("hub")
    return {
        "bench": "ingest",
        "bare_rps": round(bare_rps),
        "hub_rps": round(hub_rps),
        "ratio": round(hub_rps / bare_rps, 3),
        "target": 0.5,
        "concurrency": args.concurrency,
        "quick": args.quick,
        "rounds": rounds,
        "seconds_per_round": seconds,
        "warmup_s": warmup,
        "store": "sqlite",
        "sqlite_synchronous": args.sqlite_synchronous or SQLITE_SYNCHRONOUS,
        "acknowledged": hub_tally.ok,
        "stored": stored["audit_rows"],
        "durable": durable,
        "stored_detail": stored,
        "expected_detail": expected,
        "hub_commits": intake["commits_since_start"],
        "mean_batch": round(
            intake["events_since_start"] / max(1, intake["commits_since_start"]), 1
        ),
        "hub_actions": dict(hub_tally.actions),
        "hub_non_2xx": hub_tally.not_ok,
        "bare_non_2xx": tallies["bare"].not_ok,
        "broken_connections": hub_tally.broken + tallies["bare"].broken,
        "hub_statuses": {str(k): v for k, v in hub_tally.statuses.items()},
        "rounds_rps": {name: [round(r.rps) for r in rs] for name, rs in results.items()},
        "p50_ms": {
            name: round(statistics.median(r.p50_ms for r in rs), 2) for name, rs in results.items()
        },
        "p99_ms": {name: round(max(r.p99_ms for r in rs), 2) for name, rs in results.items()},
        "server_cpu": {
            name: round(statistics.mean(r.server_cpu for r in rs), 2)
            for name, rs in results.items()
        },
        "client_cpu": {
            name: round(statistics.mean(r.client_cpu for r in rs), 2)
            for name, rs in results.items()
        },
        "fingerprints": FINGERPRINTS,
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        **implementation(),
    }


# Agent reports ----------------------------------------------------------------------------------


def summary(results: dict[str, list[Round]]) -> dict[str, Any]:
    def rate(rs: list[Round]) -> float:
        return sum(r.ok for r in rs) / sum(r.seconds for r in rs)

    return {
        "rps": {name: round(rate(rs)) for name, rs in results.items()},
        "rounds_rps": {name: [round(r.rps) for r in rs] for name, rs in results.items()},
        "p50_ms": {
            name: round(statistics.median(r.p50_ms for r in rs), 2) for name, rs in results.items()
        },
        "p99_ms": {name: round(max(r.p99_ms for r in rs), 2) for name, rs in results.items()},
        "server_cpu": {
            name: round(statistics.mean(r.server_cpu for r in rs), 2)
            for name, rs in results.items()
        },
        "client_cpu": {
            name: round(statistics.mean(r.client_cpu for r in rs), 2)
            for name, rs in results.items()
        },
    }


async def run_agent_reports(args: argparse.Namespace) -> dict[str, Any]:
    rounds, warmup, seconds = (2, 1.0, 4.0) if args.quick else (3, 2.0, 15.0)
    ids = agent_ids(args.agents)
    env = {"BOUNCEBACK_LOG_LEVEL": "WARNING", "BOUNCEBACK_ACCESS_LOG": "false"}
    with tempfile.TemporaryDirectory(prefix="bench-reports-") as scratch:
        async with pg_schema() as schema:
            stores = {
                "sqlite": store_settings(Path(scratch) / "sqlite", None),
                "postgres_x2": store_settings(Path(scratch) / "postgres", schema),
            }
            tokens: dict[str, dict[str, str]] = {}
            for name, settings in stores.items():
                db = database(settings)
                await migrate(db)
                tokens[name] = await agent_tokens(db, ids)
                await db.dispose()
            tokens["bare"] = tokens["sqlite"]
            hubs = {
                "sqlite": replicas(stores["sqlite"], 1, Path(scratch), **env),
                "postgres_x2": replicas(stores["postgres_x2"], 2, Path(scratch), **env),
            }
            bare_port, bare_log = free_port(), Path(scratch) / "bare.log"
            bare = start(
                [sys.executable, str(BENCH / "bare_app.py"), "--port", str(bare_port)], bare_log
            )
            try:
                await wait_listening(bare_port, bare, bare_log)
                for group in hubs.values():
                    for replica in group:
                        await replica.start()
                servers: dict[str, list[tuple[int, int]]] = {"bare": [(bare_port, bare.pid)]}
                for name, group in hubs.items():
                    servers[name] = [(r.port, r.process.pid) for r in group if r.process]
                # As behind a load balancer, each agent keeps to one replica: replica i of n
                # gets agents i, i + n, … (every agent reports to someone).
                targets: dict[str, list[Target]] = {}
                for name, group_servers in servers.items():
                    count = len(group_servers)
                    targets[name] = []
                    for i, (port, pid) in enumerate(group_servers):
                        own = dict(list(tokens[name].items())[i::count])
                        reports = AgentReports(own)
                        targets[name].append(Target(port, pid, reports.pick, reports.span))
                tallies = {name: Tally() for name in servers}
                results: dict[str, list[Round]] = {name: [] for name in servers}
                for name, group_targets in targets.items():
                    # Every agent reports once first: the rounds measure agents the hub knows
                    # (with sequence numbers past the range the rounds use).
                    for target in group_targets:
                        agents = target.span // SEQS_PER_AGENT
                        first = [target.pick(target.span + n).wire for n in range(agents)]
                        await send_all([target.port], first, tallies[name])
                for _ in range(rounds):
                    for name, group_targets in targets.items():
                        results[name].append(
                            await drive(
                                group_targets,
                                tallies[name],
                                connections=args.concurrency,
                                warmup=warmup,
                                seconds=seconds,
                            )
                        )
                # Every answer is in: whatever was acknowledged must already be stored.
                for group in hubs.values():
                    for replica in group:
                        replica.kill()
                found = {}
                for name, settings in stores.items():
                    db = database(settings)
                    found[name] = await stored_reports(db)
                    await db.dispose()
            finally:
                for group in hubs.values():
                    for replica in group:
                        replica.kill()
                stop(bare, signal.SIGTERM)
    expected = {
        name: {"events": tallies[name].accepted, "reports": tallies[name].ok} for name in stores
    }
    durable = all(found[name] == expected[name] for name in stores)
    figures = summary(results)
    rps = figures["rps"]
    return {
        "bench": "ingest-agent-reports",
        "bare_rps": rps["bare"],
        "sqlite_rps": rps["sqlite"],
        "postgres_x2_rps": rps["postgres_x2"],
        "postgres_vs_sqlite": round(rps["postgres_x2"] / max(1, rps["sqlite"]), 3),
        "sqlite_vs_bare": round(rps["sqlite"] / max(1, rps["bare"]), 3),
        "agents": args.agents,
        "events_per_report": 2,
        "concurrency": args.concurrency,
        "quick": args.quick,
        "rounds": rounds,
        "seconds_per_round": seconds,
        "warmup_s": warmup,
        "durable": durable,
        "stored": found,
        "expected": expected,
        "non_2xx": {name: t.not_ok for name, t in tallies.items()},
        "statuses": {n: {str(k): v for k, v in t.statuses.items()} for n, t in tallies.items()},
        "broken_connections": {name: t.broken for name, t in tallies.items()},
        **{key: value for key, value in figures.items() if key != "rps"},
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        **implementation(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="a smaller run, well under 60 s")
    parser.add_argument("--concurrency", type=int, default=64, help="keep-alive connections")
    parser.add_argument(
        "--sqlite-synchronous",
        choices=["OFF", "NORMAL", "FULL", "EXTRA"],
        help=f"run the hub with this PRAGMA synchronous instead of {SQLITE_SYNCHRONOUS}",
    )
    parser.add_argument(
        "--agent-reports",
        action="store_true",
        help="measure agent reports (bare, one SQLite hub, two PostgreSQL replicas)",
    )
    parser.add_argument("--agents", type=int, default=1000, help="with --agent-reports")
    args = parser.parse_args()
    began = time.perf_counter()
    if args.agent_reports:
        figures = asyncio.run(run_agent_reports(args))
        figures["wall_s"] = round(time.perf_counter() - began, 1)
        print(
            f"agent reports/s: bare {figures['bare_rps']}, one hub on SQLite "
            f"{figures['sqlite_rps']}, two replicas on PostgreSQL {figures['postgres_x2_rps']} "
            f"({figures['postgres_vs_sqlite']}x SQLite); {figures['agents']} agents, "
            f"{figures['concurrency']} connections; durable {figures['durable']}"
        )
        print(json.dumps(figures))
        if not figures["durable"]:
            raise SystemExit(1)
        return
    figures = asyncio.run(run(args))
    figures["wall_s"] = round(time.perf_counter() - began, 1)
    print(
        f"bare {figures['bare_rps']} req/s, hub {figures['hub_rps']} req/s, "
        f"ratio {figures['ratio']} (target >= 0.5), {figures['concurrency']} connections; "
        f"acknowledged {figures['acknowledged']}, stored {figures['stored']}, "
        f"durable {figures['durable']}"
    )
    print(json.dumps(figures))
    if not figures["durable"]:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
