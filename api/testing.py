"""Helpers for running a real hub in-process (tests, benchmarks, embedding): uvicorn on a free
loopback port, with credentials for every role."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
import uvicorn
from starlette.applications import Starlette

from bounceback.api.app import create_app
from bounceback.api.auth.roles import Role
from bounceback.api.auth.store import INTEGRATION_KINDS, Credentials
from bounceback.api.clock import Clock, SystemClock
from bounceback.api.context import Hub
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
async def serve(app: Starlette, host: str = "127.0.0.1") -> AsyncIterator[int]:
    """Serve ``app`` with uvicorn on a free port of ``host`` until the block ends."""
    config = uvicorn.Config(
        app, host=host, port=0, log_config=None, access_log=False, lifespan="on"
    )
    server = uvicorn.Server(config)
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
    settings: HubSettings, *, clock: Clock | None = None
) -> AsyncIterator[RunningHub]:
    """A hub with one token per role and one integration key per kind."""
    app = create_app(settings, clock=clock)
    async with serve(app) as port:
        hub: Hub = app.state.hub
        credentials = Credentials(hub.db, SystemClock())
        tokens = {role: await credentials.create_token(f"test-{role.value}", role) for role in Role}
        keys = {
            kind: await credentials.create_integration(f"test-{kind}", kind)
            for kind in INTEGRATION_KINDS
        }
        url = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(base_url=url, timeout=10) as client:
            yield RunningHub(url, app, hub, tokens, keys, client)
