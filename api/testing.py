"""Helpers for running a real hub in-process (tests, benchmarks, embedding): uvicorn on a free
loopback port, with credentials for every role."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import uvicorn
from starlette.applications import Starlette

from bounceback.api.app import create_app
from bounceback.api.auth.roles import Role
from bounceback.api.auth.store import INTEGRATION_KINDS, Credentials
from bounceback.api.clock import Clock, SystemClock
from bounceback.api.context import Hub
from bounceback.api.server import HubServer
from bounceback.api.settings import HubSettings


@dataclass
class RunningHub:
    url: str
    app: Starlette
    hub: Hub
    tokens: dict[Role, str]
    keys: dict[str, str]
    client: httpx.AsyncClient

    def auth(self, role: Role) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}

    def key(self, kind: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[kind]}"}


@asynccontextmanager
async def serve(app: Starlette, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[int]:
    """Serve ``app`` with uvicorn on ``port`` (a free one by default) until the block ends."""
    config = uvicorn.Config(
        app, host=host, port=port, log_config=None, access_log=False, lifespan="on"
    )
    server = HubServer(config)
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if task.done():
                await task
                raise RuntimeError("the hub did not start")
            await asyncio.sleep(0.01)
        yield server.servers[0].sockets[0].getsockname()[1]
    finally:
        server.should_exit = True
        await task


@asynccontextmanager
async def running_hub(
    settings: HubSettings,
    *,
    clock: Clock | None = None,
    create_credentials: bool = True,
    port: int = 0,
) -> AsyncIterator[RunningHub]:
    """A hub with one token per role (named ``test-<role>``) and one integration key per kind;
    ``create_credentials=False`` for a hub restarted on a store that has them already."""
    app = create_app(settings, clock=clock)
    async with serve(app, port=port) as port:
        hub: Hub = app.state.hub
        credentials = Credentials(hub.db, SystemClock())
        tokens: dict[Role, str] = {}
        keys: dict[str, str] = {}
        if create_credentials:
            for role in Role:
                tokens[role] = await credentials.create_token(f"test-{role.value}", role)
            for kind in INTEGRATION_KINDS:
                keys[kind] = await credentials.create_integration(f"test-{kind}", kind)
        url = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(base_url=url, timeout=10) as client:
            yield RunningHub(url, app, hub, tokens, keys, client)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def hub_environment(settings: HubSettings, **extra: str) -> dict[str, str]:
    """The environment for a hub process on ``settings``' store."""
    env = {**os.environ, "BOUNCEBACK_DATA_DIR": str(settings.bounceback_data_dir)}
    if settings.database_url is not None:
        env["DATABASE_URL"] = settings.database_url.get_secret_value()
        env["BOUNCEBACK_DATABASE_SCHEMA"] = settings.bounceback_database_schema or ""
    env["BOUNCEBACK_ACCESS_LOG"] = "false"
    env.update(extra)
    return env


async def start_hub_process(
    settings: HubSettings, port: int, log: Path, **extra_env: str
) -> subprocess.Popen[bytes]:
    """``bounceback-hub serve`` as a child process, returned once /readyz answers 200."""
    command = [sys.executable, "-c", "from bounceback.api.cli import main; main()"]
    with log.open("ab") as output:
        process = subprocess.Popen(  # noqa: ASYNC220, S603 - a helper for tests and benches
            [*command, "serve", "--port", str(port)],
            env=hub_environment(settings, **extra_env),
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    async with httpx.AsyncClient() as client:
        for _ in range(400):
            if process.poll() is not None:
                raise RuntimeError(log.read_text())  # noqa: ASYNC240
            try:
                if (await client.get(f"http://127.0.0.1:{port}/readyz")).status_code == 200:
                    return process
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.05)
    process.kill()
    raise RuntimeError("hub did not become ready")
