"""What the guard needs from GitHub deployments, independent of the client library."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol


class DeploymentState(StrEnum):
    """Deployment status states the guard sets (GitHub also knows `pending`)."""

    QUEUED = "queued"
    IN_PROGRESS = "in_progress"
    SUCCESS = "success"
    FAILURE = "failure"
    ERROR = "error"
    INACTIVE = "inactive"


@dataclass(frozen=True)
class GitHubDeployment:
    id: int
    url: str
    ref: str
    sha: str
    environment: str
    production: bool
    transient: bool
    payload: Mapping[str, Any] = field(default_factory=dict)


class GitHubError(Exception):
    """A GitHub call failed; `retryable` says whether trying again later could help.

    The message never carries the token: it is built from the HTTP status and GitHub's own
    `message` field, and scrubbed of the token as a second line of defence.
    """

    def __init__(self, message: str, *, status: int | None, retryable: bool) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.retryable = retryable


class DeploymentsApi(Protocol):
    """The GitHub operations the guard performs; `repo` is always `owner/name`."""

    def create_deployment(
        self,
        repo: str,
        *,
        ref: str,
        environment: str,
        payload: Mapping[str, Any],
        production: bool,
        transient: bool,
        description: str = "",
        task: str = "deploy",
    ) -> GitHubDeployment: ...

    def set_status(
        self,
        repo: str,
        deployment_id: int,
        state: DeploymentState,
        *,
        environment_url: str | None = None,
        log_url: str | None = None,
        description: str = "",
    ) -> None: ...

    def mark_superseded_inactive(self, repo: str, environment: str, keep_id: int) -> list[int]: ...

    def last_successful_ref(self, repo: str, environment: str) -> str | None: ...

    def dispatch_workflow(
        self, repo: str, workflow: str, ref: str, inputs: Mapping[str, str] | None = None
    ) -> None: ...
