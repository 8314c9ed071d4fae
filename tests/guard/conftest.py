"""A FakeGitHub on loopback and the PyGithub adapter pointed at it; the guard's world."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import pytest

from bounceback.api.settings import HubSettings
from bounceback.guard.github import PyGithubDeployments
from bounceback.guard.testing import FakeGitHub
from tests.guard.world import World, guard_world

TOKEN = "ghs_guard_test_token_0123456789"


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    with FakeGitHub(token=TOKEN, repos=("octo/app",)) as fake:
        yield fake


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def api(github: FakeGitHub, sleeps: list[float]) -> Iterator[PyGithubDeployments]:
    adapter = PyGithubDeployments.connect(
        TOKEN, github.base_url, sleep=sleeps.append, pace_writes=False
    )
    yield adapter
    adapter.close()


@pytest.fixture
async def world(db_settings: HubSettings, tmp_path: Path) -> AsyncIterator[World]:
    """The guard's CLI against a real hub with the fast watch; see ``world.py``."""
    async with guard_world(db_settings, tmp_path) as running:
        yield running


@pytest.fixture
def make_world(
    db_settings: HubSettings, tmp_path: Path
) -> Callable[..., AbstractAsyncContextManager[World]]:
    """``async with make_world(**deployments) as world``: a world whose hub watches otherwise."""

    def make(**deployments: Any) -> AbstractAsyncContextManager[World]:
        return guard_world(db_settings, tmp_path, **deployments)

    return make
