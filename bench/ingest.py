"""Durable alert intake against a bare Starlette app, side by side in the same run.

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

The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import importlib.util
import json
import os
import platform
import random
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any, cast

from bounceback.api.store.db import SQLITE_SYNCHRONOUS

BENCH = Path(__file__).resolve().parent
VENV_BIN = Path(sys.executable).parent
FINGERPRINTS = 500
RESOLVED_SHARE = 0.03  # resolves close incidents, so later alerts for them open new ones
REQUESTS = 4096  # distinct prebuilt requests, cycled through
SEVERITIES = ("critical", "high", "medium", "low", "info")
SEVERITY_WEIGHTS = (1, 3, 6, 3, 1)


# The load generator ---------------------------------------------------------------------------


@dataclass
class Tally:
    """What the clients saw: every answer (for the durability check) and the measured window."""

    ok: int = 0
    not_ok: int = 0
    broken: int = 0  # connections lost with a request in flight
    statuses: Counter[int] = field(default_factory=Counter)
    actions: Counter[str] = field(default_factory=Counter)
    firing_ok: int = 0
    measuring: bool = False
    window_ok: int = 0
    window_not_ok: int = 0
    latencies: list[float] = field(default_factory=list)


@dataclass(frozen=True)
class Prebuilt:
    wire: bytes
    firing: bool


_ACTIONS = (b'"action":"created"', b'"action":"updated"', b'"action":"ignored"')


class Client(asyncio.Protocol):
    """One keep-alive connection: send a request, read its response, send the next."""

    def __init__(self, requests: list[Prebuilt], first: int, tally: Tally) -> None:
        self._requests = requests
        self._next = first
        self._tally = tally
        self._transport: asyncio.Transport | None = None
        self._buffer = b""
        self._need = -1  # bytes of header + body of the response being read; -1: header unknown
        self._status = 0
        self._body_at = 0
        self._current: Prebuilt | None = None
        self._sent_at = 0.0
        self.stopping = False
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)
        self._send()

    def _send(self) -> None:
        assert self._transport is not None
        if self.stopping:
            self._current = None
            if not self.done.done():
                self.done.set_result(None)
            return
        request = self._requests[self._next % len(self._requests)]
        self._next += 1
        self._current = request
        self._sent_at = time.perf_counter()
        self._transport.write(request.wire)

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        while True:
            if self._need < 0:
                end = self._buffer.find(b"\r\n\r\n")
                if end < 0:
                    return
                head = self._buffer[:end].lower()
                self._status = int(head[9:12])
                at = head.find(b"\r\ncontent-length:")
                if at < 0:
                    raise RuntimeError("the bench reads responses by Content-Length only")
                stop = head.find(b"\r\n", at + 2)
                length = int(head[at + 17 : stop if stop >= 0 else len(head)])
                self._body_at = end + 4
                self._need = self._body_at + length
            if len(self._buffer) < self._need:
                return
            body = self._buffer[self._body_at : self._need]
            self._buffer = self._buffer[self._need :]
            self._need = -1
            self._record(body)
            self._send()

    def _record(self, body: bytes) -> None:
        tally = self._tally
        status = self._status
        tally.statuses[status] += 1
        if 200 <= status < 300:
            tally.ok += 1
            if self._current is not None and self._current.firing:
                tally.firing_ok += 1
            for action in _ACTIONS:
                if action in body:
                    tally.actions[action[10:-1].decode()] += 1
                    break
            if tally.measuring:
                tally.window_ok += 1
                tally.latencies.append(time.perf_counter() - self._sent_at)
        else:
            tally.not_ok += 1
            if tally.measuring:
                tally.window_not_ok += 1

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._current is not None:
            self._tally.broken += 1
            self._current = None
        if not self.done.done():
            self.done.set_result(None)


@dataclass(frozen=True)
class Round:
    rps: float
    ok: int
    not_ok: int
    seconds: float
    p50_ms: float
    p99_ms: float
    server_cpu: float  # CPU seconds per second of the server process (1.0 = one core)
    client_cpu: float  # the same for this load generator


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def drive(
    port: int,
    pid: int,
    requests: list[Prebuilt],
    tally: Tally,
    *,
    connections: int,
    warmup: float,
    seconds: float,
) -> Round:
    """Keep ``connections`` requests in flight for warmup + seconds; measure the last part."""
    loop = asyncio.get_running_loop()
    stride = max(1, len(requests) // connections)
    clients: list[Client] = []
    for n in range(connections):
        first = n * stride + random.randrange(stride)
        _, client = await loop.create_connection(
            functools.partial(Client, requests, first, tally), "127.0.0.1", port
        )
        clients.append(client)
    await asyncio.sleep(warmup)
    tally.window_ok = tally.window_not_ok = 0
    tally.latencies = []
    tally.measuring = True
    started = time.perf_counter()
    server_began, client_began = cpu_seconds(pid), time.process_time()
    await asyncio.sleep(seconds)
    elapsed = time.perf_counter() - started
    tally.measuring = False
    server_cpu = (cpu_seconds(pid) - server_began) / elapsed
    client_cpu = (time.process_time() - client_began) / elapsed
    ok, not_ok = tally.window_ok, tally.window_not_ok
    for client in clients:
        client.stopping = True
    await asyncio.wait_for(asyncio.gather(*(client.done for client in clients)), timeout=60)
    for client in clients:
        client.close()
    latencies = sorted(tally.latencies)
    p50 = statistics.median(latencies) if latencies else float("nan")
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] if latencies else 0.0
    return Round(ok / elapsed, ok, not_ok, elapsed, p50 * 1000, p99 * 1000, server_cpu, client_cpu)


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


# The servers ------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


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
                            port,
                            pid,
                            requests,
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="a smaller run, well under 60 s")
    parser.add_argument("--concurrency", type=int, default=64, help="keep-alive connections")
    parser.add_argument(
        "--sqlite-synchronous",
        choices=["OFF", "NORMAL", "FULL", "EXTRA"],
        help=f"run the hub with this PRAGMA synchronous instead of {SQLITE_SYNCHRONOUS}",
    )
    args = parser.parse_args()
    began = time.perf_counter()
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
