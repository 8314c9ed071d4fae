"""The guard's CLI in-process against a real hub on 127.0.0.1 and the loopback FakeGitHub.

The CLI runs in a worker thread (its hub and GitHub clients are synchronous) with a ``Runtime``
whose ``sleep`` moves the hub's FakeClock on by the same amount and lets the hub's scheduled
work (probe rounds, looks) run to the end, and whose ``monotonic`` is the guard's own fake time.
Nothing waits on the wall clock, and every run sees the same sequence of hub states.
"""

from __future__ import annotations

import os
import threading
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import anyio
import anyio.from_thread
import anyio.to_thread
from click.testing import CliRunner

from bounceback.api.auth.roles import Role
from bounceback.api.clock import FakeClock
from bounceback.api.deployments.config import DeploymentsConfig
from bounceback.api.settings import HubSettings
from bounceback.api.testing import RunningHub, running_hub
from bounceback.guard.cli import main
from bounceback.guard.context import Runtime
from bounceback.guard.testing import FakeGitHub
from tests.guard.action_runner import WorkflowCommand, parse_commands, parse_file_commands

GITHUB_TOKEN = "ghs_guard_test_token_0123456789"
REPO = "octo/app"
WATCH: dict[str, Any] = {
    "warmup_seconds": 0,
    "probe_interval_seconds": 10,
    "baseline_samples": 30,
    "probe_samples": 5,
    "look_interval_seconds": 30,
}
_INHERITED = ("GITHUB_", "ACTIONS_", "BOUNCEBACK_", "RUNNER_")


class Service:
    """``GET /healthz`` on loopback: 200, or 500 while ``broken`` or for the next ``fail_next``."""

    def __init__(self) -> None:
        self.broken = False
        self.fail_next = 0
        self._lock = threading.Lock()
        service = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with service._lock:
                    failing = service.broken or service.fail_next > 0
                    service.fail_next = max(0, service.fail_next - 1)
                body = b'{"ok": false}' if failing else b'{"ok": true}'
                self.send_response(500 if failing else 200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/healthz"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


@dataclass
class Commands:
    """The deploy and rollback commands: recorded, never started; ``effect`` plays the deploy."""

    status: int = 0
    effect: Callable[[Sequence[str]], None] | None = None
    calls: list[tuple[tuple[str, ...], dict[str, str]]] = field(default_factory=list)

    def run(self, argv: Sequence[str], env: Mapping[str, str]) -> int:
        self.calls.append((tuple(argv), dict(env)))
        if self.effect is not None:
            self.effect(argv)
        return self.status


@dataclass(frozen=True)
class CliRun:
    status: int
    log: str  # stdout and stderr
    outputs: dict[str, str]
    env: dict[str, str]  # what the step wrote to GITHUB_ENV
    summary: str

    def annotations(self, name: str) -> list[WorkflowCommand]:
        return [c for c in parse_commands(self.log) if c.name == name]

    def titles(self, name: str) -> list[str]:
        return [c.properties.get("title", "") for c in self.annotations(name)]


@dataclass
class World:
    hub: RunningHub
    clock: FakeClock
    github: FakeGitHub
    service: Service
    tmp: Path
    commands: Commands = field(default_factory=Commands)
    guard_time: float = 0.0
    slept: list[float] = field(default_factory=list)
    # Runs in the guard's thread before each of its sleeps moves the hub's clock on.
    before_sleep: Callable[[], None] | None = None
    _runs: int = 0

    @property
    def token(self) -> str:
        return self.hub.tokens[Role.GUARD]

    def flags(self, **extra: str | None) -> list[str]:
        """The flags every step of a guarded job passes, plus ``extra`` (None drops one)."""
        values: dict[str, str | None] = {
            "hub-url": self.hub.url,
            "hub-token": self.token,
            "github-token": GITHUB_TOKEN,
            "github-api-url": self.github.base_url,
            "repository": REPO,
            "target": "checkout",
            "environment": "production",
            "health-url": self.service.url,
            "poll-interval": "10s",
            "hub-attempts": "1",
            **extra,
        }
        return [f"--{name}={value}" for name, value in values.items() if value is not None]

    async def run(self, command: str, *args: str, env: Mapping[str, str] | None = None) -> CliRun:
        """``bounceback-guard command args`` as a GitHub Actions step would run it."""
        self._runs += 1
        files = self.tmp / f"step-{self._runs}"
        files.mkdir()
        paths = {name: files / name for name in ("output", "env", "summary")}
        for path in paths.values():
            path.touch()
        environ: dict[str, str | None] = {k: None for k in os.environ if k.startswith(_INHERITED)}
        environ.update(
            GITHUB_ACTIONS="true",
            GITHUB_OUTPUT=str(paths["output"]),
            GITHUB_ENV=str(paths["env"]),
            GITHUB_STEP_SUMMARY=str(paths["summary"]),
            GITHUB_SERVER_URL="https://github.com",
            GITHUB_RUN_ID="1234",
            **(env or {}),
        )
        runtime = Runtime(
            sleep=self._sleep,
            monotonic=lambda: self.guard_time,
            runner=self.commands,
            pace_github_writes=False,
        )

        def invoke() -> Any:
            return CliRunner().invoke(main, [command, *args], env=environ, obj=runtime)

        result = await anyio.to_thread.run_sync(invoke)
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        return CliRun(
            result.exit_code,
            result.stdout + result.stderr,
            parse_file_commands(paths["output"]),
            parse_file_commands(paths["env"]),
            paths["summary"].read_text(),
        )

    def _sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.guard_time += seconds
        if self.before_sleep is not None:
            self.settle_now()
            self.before_sleep()
        anyio.from_thread.run(self.advance, seconds)

    def settle_now(self) -> None:
        """From the guard's thread (a command's effect): let the hub finish what is due."""
        anyio.from_thread.run(self.settle)

    async def settle(self) -> None:
        scheduler = self.hub.hub.scheduler
        while True:
            started = await scheduler.run_once()
            await scheduler.drain()
            if started == 0:
                return

    async def advance(self, seconds: float) -> None:
        """Move the hub's clock in steps of at most 10 s, letting its work catch up at each."""
        await self.settle()
        left = seconds
        while left > 0:
            step = min(10.0, left)
            await self.clock.advance(step)
            await self.settle()
            left -= step

    async def deployment(self, deployment_id: int | str) -> dict[str, Any]:
        path = f"/api/auto-recovery/deployment/{deployment_id}"
        response = await self.hub.client.get(path, headers=self.hub.auth(Role.VIEWER))
        assert response.status_code == 200, response.text
        found: dict[str, Any] = response.json()["deployment"]
        return found

    def github_states(self) -> dict[str, list[str]]:
        """``"<task> <ref>"`` → the states of its statuses, in order."""
        return {
            f"{d['task']} {d['ref']}": self.github.statuses_of(d["id"])
            for d in self.github.deployments()
        }


@asynccontextmanager
async def guard_world(
    settings: HubSettings, tmp: Path, *, public_url: str | None = None, **deployments: Any
) -> AsyncIterator[World]:
    """A hub with the fast watch (``deployments`` overrides it), FakeGitHub and a service."""
    clock = FakeClock()
    config = DeploymentsConfig.model_validate({**WATCH, **deployments})
    service = Service()
    try:
        with FakeGitHub(token=GITHUB_TOKEN, repos=(REPO,)) as github:
            update = {"deployments": config, "bounceback_public_url": public_url}
            configured = settings.model_copy(update=update)
            async with running_hub(configured, clock=clock) as hub:
                yield World(hub, clock, github, service, tmp)
    finally:
        service.stop()
