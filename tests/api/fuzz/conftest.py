"""A real hub for the fuzzers: uvicorn on 127.0.0.1 over SQLite, served from a thread of its own
so that schemathesis' blocking client can call it from the test's thread."""

from __future__ import annotations

import asyncio
import ipaddress
import os
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from bounceback.api.clock import FakeClock
from bounceback.api.deployments.probes import Prober
from bounceback.api.recovery.hubsteps import HubSteps
from bounceback.api.settings import HubSettings
from bounceback.api.testing import RunningHub, running_hub


class LoopbackOnly(httpx.AsyncBaseTransport):
    """The fuzzed hub's outbound transport: generated health URLs and webhook steps may name any
    host, and no test traffic may leave 127.0.0.0/8."""

    def __init__(self) -> None:
        self._inner = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host
        try:
            loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise httpx.ConnectError(f"the fuzzed hub may not reach {host!r}", request=request)
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


def keep_traffic_local(running: RunningHub) -> None:
    hub = running.hub
    transport = LoopbackOnly()
    hub.deployments.prober = Prober(hub.clock, timeout=2.0, transport=transport)
    steps = hub.recovery.hub_steps
    hub.recovery.hub_steps = HubSteps(
        transport=transport, degradation=steps.degradation, rollback=steps.rollback
    )


def serve_in_thread(settings: HubSettings) -> Iterator[RunningHub]:
    """``running_hub`` on an event loop in a daemon thread; stopped when the generator closes."""
    started: list[RunningHub] = []
    failed: list[BaseException] = []
    ready = threading.Event()
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()

    async def main() -> None:
        try:
            async with running_hub(settings, clock=FakeClock()) as running:
                keep_traffic_local(running)
                started.append(running)
                ready.set()
                await stop.wait()
        except BaseException as exc:
            failed.append(exc)
            ready.set()
            raise

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    ready.wait(timeout=60)
    if not started:
        raise RuntimeError("the fuzzed hub did not start") from (failed[0] if failed else None)
    try:
        yield started[0]
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=60)
        loop.close()


@pytest.fixture(scope="module")
def hub_settings_extra() -> dict[str, Any]:
    """Settings a fuzz module adds to the fuzzed hub's (override it in the module)."""
    return {}


@pytest.fixture(scope="module")
def fuzzed_hub(
    tmp_path_factory: pytest.TempPathFactory, hub_settings_extra: dict[str, Any]
) -> Iterator[RunningHub]:
    """One hub for a whole module: starting one per operation would cost more than fuzzing it."""
    with pytest.MonkeyPatch.context() as environment:
        for name in list(os.environ):  # as tests/conftest.py does per test
            if name.lower() in HubSettings.model_fields or name == "BOUNCEBACK_CONFIG":
                environment.delenv(name)
        data = tmp_path_factory.mktemp("fuzz") / "data"
        settings = HubSettings(bounceback_data_dir=data, **hub_settings_extra)
    yield from serve_in_thread(settings)
