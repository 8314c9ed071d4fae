"""Fixtures for deployments: a hub on a fake clock, a loopback service whose health URL can be
made to fail, and helpers that move time and let the hub's scheduled work catch up."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from bounceback.api.auth.roles import Role
from bounceback.api.clock import FakeClock
from bounceback.api.deployments.config import DeploymentsConfig
from bounceback.api.settings import HubSettings
from bounceback.api.testing import RunningHub, running_hub

FAST_WATCH: dict[str, Any] = {
    "probe_interval_seconds": 10,
    "probe_samples": 5,
    "baseline_samples": 30,
    "warmup_seconds": 30,
    "look_interval_seconds": 30,
}


class Service:
    """A loopback HTTP service on 127.0.0.1 (its own thread, off the hub's event loop).

    ``fail_every = k`` answers every k-th request with 500 (2: an error rate of 50 %)."""

    def __init__(self) -> None:
        self.fail_every = 0
        self.requests = 0
        self._lock = threading.Lock()
        service = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with service._lock:
                    service.requests += 1
                    failing = service.fail_every and service.requests % service.fail_every == 0
                body = b'{"status": "down"}' if failing else b'{"status": "ok"}'
                self.send_response(500 if failing else 200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/healthz"

    def start(self) -> Service:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


@pytest.fixture
def service() -> Iterator[Service]:
    running = Service().start()
    try:
        yield running
    finally:
        running.stop()


HubFactory = Callable[..., AbstractAsyncContextManager[RunningHub]]


@pytest.fixture
def deploy_hub(db_settings: HubSettings, clock: FakeClock) -> HubFactory:
    """``async with deploy_hub(deployments={...}, **settings) as hub``: a hub on the fake clock
    with a fast watch (10 s probes, 30 s looks) unless told otherwise."""

    @asynccontextmanager
    async def make(
        deployments: dict[str, Any] | None = None, **settings: Any
    ) -> AsyncIterator[RunningHub]:
        config = DeploymentsConfig.model_validate({**FAST_WATCH, **(deployments or {})})
        values = {**db_settings.model_dump(), "deployments": config, **settings}
        effective = HubSettings.model_validate(values)
        async with running_hub(effective, clock=clock) as running:
            yield running

    return make


async def settle(hub: RunningHub) -> None:
    """Let the hub's scheduler run everything that is due now, to the end."""
    scheduler = hub.hub.scheduler
    while True:
        started = await scheduler.run_once()
        await scheduler.drain()
        if started == 0:
            return


Advance = Callable[[RunningHub, float], Awaitable[None]]


@pytest.fixture
def advance(clock: FakeClock) -> Advance:
    """Move the clock by ``seconds`` in 10-second steps, letting the hub catch up at each."""

    async def move(hub: RunningHub, seconds: float) -> None:
        await settle(hub)
        left = seconds
        while left > 0:
            step = min(10.0, left)
            await clock.advance(step)
            await settle(hub)
            left -= step

    return move


def guard(hub: RunningHub) -> dict[str, str]:
    return hub.auth(Role.GUARD)
