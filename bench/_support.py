"""What several benches share: a fresh PostgreSQL schema, hub replicas as real processes (killed
and restarted at will), agent tokens in bulk, percentiles and CPU time. Not a bench itself.

A helper module, not a script: it has no --quick of its own; the scripts that import it take
--quick and pass the shorter run down.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from bounceback.api.auth.roles import Role
from bounceback.api.auth.secrets import digest, new_token
from bounceback.api.settings import HubSettings, async_database_url
from bounceback.api.store.db import Database
from bounceback.api.store.tables import tokens
from bounceback.api.testing import free_port, start_hub_process

PG_URL = os.environ.get(
    "BOUNCEBACK_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test"
)


@contextlib.asynccontextmanager
async def pg_schema(url: str = PG_URL) -> AsyncIterator[str]:
    """A schema of our own on the bench's PostgreSQL, dropped afterwards."""
    name = f"bench_{uuid.uuid4().hex[:10]}"
    admin = create_async_engine(async_database_url(url))
    async with admin.begin() as conn:
        await conn.execute(sa.text(f"CREATE SCHEMA {name}"))
    try:
        yield name
    finally:
        async with admin.begin() as conn:
            await conn.execute(sa.text(f"DROP SCHEMA {name} CASCADE"))
        await admin.dispose()


def store_settings(workdir: Path, schema: str | None, url: str = PG_URL) -> HubSettings:
    """SQLite in ``workdir`` when ``schema`` is None, else that PostgreSQL schema."""
    if schema is None:
        return HubSettings(bounceback_data_dir=workdir)
    return HubSettings(
        bounceback_data_dir=workdir, database_url=url, bounceback_database_schema=schema
    )


def database(settings: HubSettings) -> Database:
    return Database(settings.sqlalchemy_url, schema=settings.bounceback_database_schema)


async def agent_tokens(db: Database, agent_ids: Sequence[str]) -> dict[str, str]:
    """One agent token per id (named after it), inserted in one transaction."""
    made = {agent_id: new_token() for agent_id in agent_ids}
    now = datetime.now(UTC)
    async with db.transaction() as conn:
        await conn.execute(
            tokens.insert(),
            [
                {"name": a, "role": Role.AGENT.value, "token_hash": digest(t), "created_at": now}
                for a, t in made.items()
            ],
        )
    return made


@dataclass
class Replica:
    """One ``bounceback-hub serve`` process on a fixed port, killed and restarted at will."""

    settings: HubSettings
    port: int
    log: Path
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    async def start(self) -> None:
        self.process = await start_hub_process(self.settings, self.port, self.log, **self.env)
        self.starts += 1

    def kill(self) -> None:
        """SIGKILL: no graceful anything, as a crashed machine."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def stop(self, timeout: float = 60) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()


def replicas(settings: HubSettings, count: int, workdir: Path, **env: str) -> list[Replica]:
    return [
        Replica(settings, port, workdir / f"hub-{port}.log", dict(env))
        for port in (free_port() for _ in range(count))
    ]


def percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Stopwatch:
    def __init__(self) -> None:
        self.began = time.monotonic()

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.began
