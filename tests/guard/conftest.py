"""A FakeGitHub on loopback and the PyGithub adapter pointed at it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bounceback.guard.github import PyGithubDeployments
from bounceback.guard.testing import FakeGitHub

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
