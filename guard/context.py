"""What every guard command works with: settings, the hub, GitHub, the console, time, commands.

Each dependency is passed in (STYLE.md §3): tests give a loopback hub and FakeGitHub, a
recording console, and a ``sleep`` that does not wait.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from bounceback.guard.commands import CommandRunner, SubprocessRunner
from bounceback.guard.github_types import DeploymentsApi, DeploymentState, GitHubError
from bounceback.guard.hub_client import HubClient, HubError
from bounceback.guard.settings import GuardSettings
from bounceback.guard.workflow import Console

__all__ = ["Exit", "GuardContext", "Runtime"]


class Exit(IntEnum):
    OK = 0
    FAILED = 1  # blocked, rolled back, failed verdict, failed command
    USAGE = 2  # a flag or environment variable is missing or wrong
    HUB_UNREACHABLE = 3


@dataclass(frozen=True)
class Runtime:
    """How the CLI waits, tells time and runs commands; tests pass fakes as click's ``obj``."""

    sleep: Callable[[float], None] = time.sleep
    monotonic: Callable[[], float] = time.monotonic
    runner: CommandRunner = field(default_factory=SubprocessRunner)
    # PyGithub's pause between writes, as GitHub asks of API clients; tests against FakeGitHub
    # turn it off.
    pace_github_writes: bool = True


@dataclass
class GuardContext:
    settings: GuardSettings
    hub: HubClient
    console: Console
    github: DeploymentsApi | None = None
    runner: CommandRunner = field(default_factory=SubprocessRunner)
    sleep: Callable[[float], None] = time.sleep
    monotonic: Callable[[], float] = time.monotonic

    @property
    def repository(self) -> str:
        assert self.settings.repository is not None
        return self.settings.repository

    def hub_down(self, error: HubError, *, what: str) -> Exit:
        """Fail closed (exit 3), or open with a warning when the workflow asked for it."""
        if self.settings.fail_open:
            self.console.warning(
                f"{error.message}. Failing open as asked (--fail-open-on-hub-error): {what}.",
                title="Bounceback hub unreachable",
            )
            return Exit.OK
        self.console.error(
            f"{error.message}. Failing closed; pass --fail-open-on-hub-error to let deploys "
            "through when the hub is down.",
            title="Bounceback hub unreachable",
        )
        return Exit.HUB_UNREACHABLE

    def github_status(
        self,
        github_id: int | None,
        state: DeploymentState,
        description: str,
        *,
        log_url: str | None = None,
    ) -> None:
        """Bookkeeping only: a GitHub failure warns but never changes what the guard does."""
        if self.github is None or github_id is None:
            return
        environment_url = (
            self.settings.environment_url if state == DeploymentState.SUCCESS else None
        )
        try:
            self.github.set_status(
                self.repository,
                github_id,
                state,
                environment_url=environment_url,
                log_url=log_url,
                description=description,
            )
        except GitHubError as exc:
            self.console.warning(exc.message, title="GitHub deployment status not recorded")

    def deactivate_superseded(self, environment: str, keep_id: int | None) -> None:
        if self.github is None or keep_id is None:
            return
        try:
            done = self.github.mark_superseded_inactive(self.repository, environment, keep_id)
        except GitHubError as exc:
            self.console.warning(exc.message, title="Superseded deployments not deactivated")
            return
        if done:
            self.console.info(f"marked superseded GitHub deployments inactive: {done}")

    def create_github_deployment(
        self, *, ref: str, payload: Mapping[str, Any], description: str, task: str = "deploy"
    ) -> int | None:
        if self.github is None:
            return None
        created = self.github.create_deployment(
            self.repository,
            ref=ref,
            environment=self.settings.environment,
            payload=payload,
            production=self.settings.is_production,
            transient=self.settings.transient,
            description=description,
            task=task,
        )
        return created.id

    def command_env(self, deployment_id: int | None, version: str) -> dict[str, str]:
        s = self.settings
        env = {"BOUNCEBACK_ENVIRONMENT": s.environment, "BOUNCEBACK_VERSION": version}
        if s.target:
            env["BOUNCEBACK_TARGET"] = s.target
        if deployment_id is not None:
            env["BOUNCEBACK_DEPLOYMENT_ID"] = str(deployment_id)
        return env
