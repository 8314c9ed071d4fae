"""The composite action end to end: a real hub on 127.0.0.1 whose FakeClock the test advances
while the action runs, the loopback FakeGitHub, and a loopback service whose health endpoint the
deploy command breaks (a file switches its errors on) and the rollback command mends.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import anyio
import pytest

from bounceback.api.auth.roles import Role
from bounceback.api.clock import FakeClock
from bounceback.api.deployments.config import DeploymentsConfig
from bounceback.api.settings import HubSettings
from bounceback.api.testing import RunningHub, running_hub
from bounceback.guard.testing import FakeGitHub
from tests.guard.action_runner import ActionRun, ActionRunner

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "ghs_guard_test_token_0123456789"
REPO = "octo/app"
WATCH = DeploymentsConfig(
    warmup_seconds=10,
    probe_interval_seconds=10,
    baseline_samples=30,
    probe_samples=5,
    look_interval_seconds=30,
)
# The deploy command: wait until the hub holds its baseline, then (with a path) break the service.
DEPLOY = """\
import json, os, sys, time, urllib.request
hub, deployment = os.environ["TEST_HUB_URL"], os.environ["BOUNCEBACK_DEPLOYMENT_ID"]
url = f"{hub}/api/auto-recovery/deployment/{deployment}"
bearer = {"Authorization": "Bearer " + os.environ["TEST_HUB_TOKEN"]}
request = urllib.request.Request(url, headers=bearer)
for _ in range(1200):
    with urllib.request.urlopen(request) as answer:
        if json.load(answer)["deployment"]["state"] != "registered":
            break
    time.sleep(0.025)
if len(sys.argv) > 1:
    open(sys.argv[1], "w").write("broken")
print("deployed", os.environ["BOUNCEBACK_VERSION"])
"""
ROLLBACK = """\
import os, sys
if os.path.exists(sys.argv[1]):
    os.remove(sys.argv[1])
print("restored", os.environ["BOUNCEBACK_ROLLBACK_REF"])
"""


class Service:
    """``GET /healthz``: 200, or 500 while the ``broken`` file exists."""

    def __init__(self, broken: Path) -> None:
        self.broken = broken
        service = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                status = 500 if service.broken.exists() else 200
                body = b'{"ok": false}' if status == 500 else b'{"ok": true}'
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/healthz"


@dataclass
class World:
    hub: RunningHub
    clock: FakeClock
    github: FakeGitHub
    service: Service
    tmp: Path

    def job(self) -> ActionRunner:
        """A fresh job (its own GITHUB_ENV and PATH), as a new workflow run has."""
        workspace = self.tmp / f"job-{len(list(self.tmp.glob('job-*')))}"
        workspace.mkdir()
        return ActionRunner(
            action_dir=ROOT,
            workspace=workspace,
            github={"token": TOKEN, "sha": "c0ffee" * 6 + "abcd", "repository": REPO},
            environ={
                "PATH": "/usr/bin:/bin",
                "HOME": str(self.tmp),
                "GITHUB_REPOSITORY": REPO,
                "GITHUB_API_URL": self.github.base_url,
                "GITHUB_SERVER_URL": "https://github.com",
                "GITHUB_RUN_ID": "1234",
                "GITHUB_REF_NAME": "main",
                "TEST_HUB_URL": self.hub.url,
                "TEST_HUB_TOKEN": self.hub.tokens[Role.GUARD],
                **{k: v for k, v in os.environ.items() if k == "PYTHONPATH"},
            },
            replace={"install": f'echo "{Path(sys.executable).parent}" >> "$GITHUB_PATH"'},
        )

    def inputs(self, command: str, version: str, **extra: str) -> dict[str, str]:
        script = self.tmp / "deploy.py"
        script.write_text(DEPLOY)
        rollback = self.tmp / "rollback.py"
        rollback.write_text(ROLLBACK)
        return {
            "command": command,
            "hub-url": self.hub.url,
            "hub-token": self.hub.tokens[Role.GUARD],
            "environment": "production",
            "target": "checkout",
            "version": version,
            "health-url": self.service.url,
            "stabilization": "1m",
            "monitoring": "2m",
            "poll-interval": "0.05s",
            "deploy-command": f"{sys.executable} {script}",
            "rollback-command": f"{sys.executable} {rollback} {self.service.broken}",
            **extra,
        }

    async def drive(self, work: Callable[[], ActionRun]) -> ActionRun:
        """Run ``work`` in a thread while the hub's clock moves on in small steps."""
        result: list[ActionRun] = []

        async def run() -> None:
            result.append(await anyio.to_thread.run_sync(work))

        async with anyio.create_task_group() as group:
            group.start_soon(run)
            while not result:
                await anyio.sleep(0.02)
                await self.clock.advance(2)
        return result[0]


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    with FakeGitHub(token=TOKEN, repos=(REPO,)) as fake:
        yield fake


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    running = Service(tmp_path / "broken")
    running.thread.start()
    yield running
    running.server.shutdown()
    running.server.server_close()


@asynccontextmanager
async def world(
    settings: HubSettings, github: FakeGitHub, service: Service, tmp: Path
) -> AsyncIterator[World]:
    clock = FakeClock()
    configured = settings.model_copy(update={"deployments": WATCH})
    async with running_hub(configured, clock=clock) as hub:
        yield World(hub, clock, github, service, tmp)


@pytest.fixture
async def env(
    db_settings: HubSettings, github: FakeGitHub, service: Service, tmp_path: Path
) -> AsyncIterator[World]:
    async with world(db_settings, github, service, tmp_path) as running:
        yield running


def github_states(github: FakeGitHub) -> dict[str, list[str]]:
    return {f"{d['task']} {d['ref']}": github.statuses_of(d["id"]) for d in github.deployments()}


async def test_healthy_deploy_passes_and_github_shows_success(env: World) -> None:
    job = env.job()
    run = await env.drive(lambda: job.run(env.inputs("full", "v1")))

    assert run.status == 0, run.log
    assert run.outputs["verdict"] == "pass"
    assert run.outputs["rolled-back"] == "false"
    assert run.outputs["deployment-id"] and run.outputs["report-url"]
    [deployment] = env.github.deployments()
    assert str(deployment["id"]) == run.outputs["github-deployment-id"]
    assert deployment["payload"]["bounceback_deployment_id"] == int(run.outputs["deployment-id"])
    assert (deployment["_auto_merge"], deployment["_required_contexts"]) == (False, [])
    assert github_states(env.github) == {
        "deploy v1": ["queued", "in_progress", "in_progress", "success"]
    }
    assert "## Bounceback guard: `checkout` v1 → production" in run.summary
    assert "| Metric | Baseline |" in run.summary
    assert run.annotations("error") == []


async def test_error_regression_rolls_back_and_names_the_metric(env: World) -> None:
    first = env.job()
    healthy = await env.drive(lambda: first.run(env.inputs("full", "v1")))
    assert healthy.status == 0, healthy.log

    second = env.job()
    broken = str(env.service.broken)
    inputs = env.inputs("full", "v2")
    inputs["deploy-command"] += f" {broken}"
    run = await env.drive(lambda: second.run(inputs))

    assert run.status == 1, run.log
    assert run.outputs["verdict"] == "fail"
    assert run.outputs["rolled-back"] == "true"
    assert run.outputs["rollback-ref"] == "v1"
    assert not env.service.broken.exists()
    states = github_states(env.github)
    assert states["deploy v2"][-1] == "failure"
    assert states["deploy:rollback v1"] == ["queued", "in_progress", "success"]
    assert states["deploy v1"][-1] == "inactive"
    errors = run.annotations("error")
    failing = [e for e in errors if e.properties["title"].startswith("Deployment verdict:")]
    assert failing, run.log
    metric = failing[0].properties["title"].removeprefix("Deployment verdict: ").split()[0]
    assert "error" in metric
    assert f"`{metric}`" in run.summary and "❌ fail" in run.summary
    assert "**Rolled back** to `v1`" in run.summary


async def test_open_critical_incident_blocks_at_the_gate_with_its_reason(env: World) -> None:
    alert = {
        "source": "test",
        "summary": "checkout is down in eu-west",
        "fingerprint": "checkout-down",
        "severity": "critical",
        "service": "checkout",
    }
    response = await env.hub.client.post("/api/alerts", json=alert, headers=env.hub.key("generic"))
    assert response.status_code == 202, response.text

    job = env.job()
    run = await env.drive(lambda: job.run(env.inputs("full", "v1")))

    assert run.status == 1, run.log
    assert run.outputs["verdict"] == "blocked"
    [error] = run.annotations("error")
    assert error.properties["title"] == "Deploy blocked: critical_incident"
    assert "checkout is down in eu-west" in error.message
    assert "`critical_incident` | yes" in run.summary
    assert env.github.deployments() == []
