"""The composite action against a hub that is not there: fail closed, or open when asked."""

from __future__ import annotations

import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bounceback.guard.testing import FakeGitHub
from tests.guard.action_runner import ActionRunner

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "ghs_guard_test_token_0123456789"
HUB_TOKEN = "bbt_not_a_real_hub_token"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def runner(tmp_path: Path, github: FakeGitHub) -> ActionRunner:
    return ActionRunner(
        action_dir=ROOT,
        workspace=tmp_path,
        github={"token": TOKEN, "sha": "a" * 40, "repository": "octo/app"},
        environ={
            "PATH": "/usr/bin:/bin",
            "HOME": str(tmp_path),
            "GITHUB_REPOSITORY": "octo/app",
            "GITHUB_API_URL": github.base_url,
            "GITHUB_SERVER_URL": "https://github.com",
            "GITHUB_RUN_ID": "77",
            # One try per hub call: the retries' backoff is the hub client's own test.
            "BOUNCEBACK_HUB_ATTEMPTS": "1",
        },
        replace={"install": f'echo "{Path(sys.executable).parent}" >> "$GITHUB_PATH"'},
    )


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    with FakeGitHub(token=TOKEN) as fake:
        yield fake


def test_unreachable_hub_fails_the_gate_closed(tmp_path: Path, github: FakeGitHub) -> None:
    run = runner(tmp_path, github).run(
        {
            "command": "gate",
            "hub-url": f"http://127.0.0.1:{free_port()}",
            "hub-token": HUB_TOKEN,
            "target": "checkout",
        }
    )

    assert run.status == 3
    [error] = run.annotations("error")
    assert error.properties["title"] == "Bounceback hub unreachable"
    assert "is unreachable" in error.message and "Failing closed" in error.message
    assert run.outputs["verdict"] == "unknown"
    assert [line for line in run.log.splitlines() if HUB_TOKEN in line] == [
        f"::add-mask::{HUB_TOKEN}"
    ]
    assert [c.message for c in run.annotations("add-mask")] == [HUB_TOKEN, TOKEN]


def test_unreachable_hub_with_fail_open_warns_and_deploys(
    tmp_path: Path, github: FakeGitHub
) -> None:
    marker = tmp_path / "deployed"
    run = runner(tmp_path, github).run(
        {
            "command": "full",
            "hub-url": f"http://127.0.0.1:{free_port()}",
            "hub-token": HUB_TOKEN,
            "target": "checkout",
            "deploy-command": f"touch {marker}",
            "fail-open-on-hub-error": "true",
        }
    )

    assert run.status == 0, run.log
    assert marker.exists()
    assert run.annotations("error") == []
    titles = {w.properties.get("title") for w in run.annotations("warning")}
    assert titles == {"Bounceback hub unreachable"}
    [deployment] = github.deployments()
    assert github.statuses_of(deployment["id"])[-1] == "success"
    assert run.outputs["verdict"] == "unknown"
