"""Hub-side steps against real loopback HTTP: the webhook step speaks JSON with an idempotency
key, and a non-2xx answer or an unreachable URL is a failed step that says why."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from bounceback.api.recovery.hubsteps import HubSteps, StepFailed
from bounceback.api.recovery.models import Step, StepType

pytestmark = pytest.mark.anyio
CONTEXT = {"attempt_id": 7, "action_id": "checkout-memory", "target": "web-1"}


class Hook:
    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str], Any]] = []
        self.status = 200


@pytest.fixture
def hook() -> Iterator[tuple[Hook, str]]:
    seen = Hook()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            seen.requests.append((self.path, dict(self.headers), body))
            self.send_response(seen.status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield seen, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def webhook(url: str) -> Step:
    return Step(type=StepType.WEBHOOK, target=url, parameters={"tier": "web"}, timeout_seconds=5)


async def test_the_webhook_step_posts_the_attempt_with_its_idempotency_key(
    hook: tuple[Hook, str],
) -> None:
    seen, url = hook
    message = await HubSteps().run(webhook(f"{url}/recover"), f"{url}/recover", CONTEXT, "k-1")
    assert message == f"webhook {url}/recover answered 200"
    [(path, headers, body)] = seen.requests
    assert path == "/recover"
    assert headers["Idempotency-Key"] == "k-1"
    assert body == {**CONTEXT, "parameters": {"tier": "web"}}


async def test_a_webhook_answering_500_is_a_failed_step(hook: tuple[Hook, str]) -> None:
    seen, url = hook
    seen.status = 500
    with pytest.raises(StepFailed, match="answered 500"):
        await HubSteps().run(webhook(url), url, CONTEXT, "k-2")


async def test_an_unreachable_webhook_is_a_failed_step_that_names_the_url() -> None:
    url = "http://127.0.0.1:9/"  # discard port: nothing listens
    with pytest.raises(StepFailed, match=r"webhook http://127\.0\.0\.1:9/: ConnectError"):
        await HubSteps().run(webhook(url), url, CONTEXT, "k-3")


async def test_the_rollback_step_hands_the_target_to_the_deployment_rollback() -> None:
    handed: list[tuple[str, str, str]] = []

    async def rollback(target: str, reason: str, actor: str) -> str:
        handed.append((target, reason, actor))
        return f"rollback of {target} requested: tracked as deployment 3"

    step = Step(type=StepType.DEPLOYMENT_ROLLBACK, target="{target}")
    message = await HubSteps(rollback=rollback).run(step, "checkout", CONTEXT, "k-4")
    assert message == "rollback of checkout requested: tracked as deployment 3"
    assert handed == [("checkout", "recovery checkout-memory on web-1", "recovery:7")]


async def test_without_a_rollback_the_step_fails_and_says_so() -> None:
    step = Step(type=StepType.DEPLOYMENT_ROLLBACK, target="checkout")
    with pytest.raises(StepFailed, match="deployment rollback is not available"):
        await HubSteps().run(step, "checkout", CONTEXT, "k-5")
