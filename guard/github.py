"""GitHub deployments through PyGithub, with bounded retries and token-free errors.

PyGithub covers creating and listing deployments. Statuses and workflow dispatch go through its
requester: `Deployment.create_status` has no `log_url`, and `Workflow.create_dispatch` needs an
extra `GET` of the workflow and turns failures into a bare `False`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from itertools import islice
from typing import Any, TypeVar
from urllib.parse import quote

from github import Auth, Github, GithubException

from bounceback.guard.github_types import DeploymentState, GitHubDeployment, GitHubError

__all__ = ["DEFAULT_API_URL", "PyGithubDeployments"]

DEFAULT_API_URL = "https://api.github.com"
_DESCRIPTION_LIMIT = 140
# How many of an environment's newest deployments we look through (last good, superseded).
_SCAN_LIMIT = 100
_RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})

T = TypeVar("T")


class PyGithubDeployments:
    """`DeploymentsApi` over PyGithub. Build it with `connect()`; tests pass `base_url`."""

    def __init__(
        self,
        client: Github,
        *,
        token: str,
        attempts: int = 4,
        backoff: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._client = client
        self._token = token
        self._attempts = max(1, attempts)
        self._backoff = backoff
        self._sleep = sleep

    @classmethod
    def connect(
        cls,
        token: str,
        base_url: str | None = None,
        *,
        timeout: int = 15,
        attempts: int = 4,
        backoff: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
        pace_writes: bool = True,
    ) -> PyGithubDeployments:
        """`base_url` is `GITHUB_API_URL` in Actions (GHES: `https://host/api/v3`)."""
        client = Github(
            base_url=(base_url or DEFAULT_API_URL).rstrip("/"),
            auth=Auth.Token(token),
            timeout=timeout,
            # We retry ourselves: PyGithub's default retry also retries 403 and can wait 60 s.
            retry=None,
            lazy=True,
            # PyGithub's defaults follow GitHub's advice of a pause between writes; tests opt out.
            seconds_between_requests=0.25 if pace_writes else None,
            seconds_between_writes=1.0 if pace_writes else None,
        )
        return cls(client, token=token, attempts=attempts, backoff=backoff, sleep=sleep)

    def close(self) -> None:
        self._client.close()

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
    ) -> GitHubDeployment:
        def call() -> GitHubDeployment:
            created = self._client.get_repo(repo).create_deployment(
                ref=ref,
                task=task,
                auto_merge=False,
                required_contexts=[],
                payload=dict(payload),
                environment=environment,
                description=_short(description),
                transient_environment=transient,
                production_environment=production,
            )
            # 202 means GitHub merged the default branch instead; auto_merge=False rules that
            # out, so a deployment without an id is a protocol surprise, not a retry case.
            if created.raw_data.get("id") is None:
                raise GitHubError(
                    f"GitHub created no deployment for {repo}@{ref}", status=202, retryable=False
                )
            return GitHubDeployment(
                id=created.id,
                url=created.url,
                ref=created.ref,
                sha=created.sha,
                environment=created.environment,
                production=bool(created.raw_data.get("production_environment", production)),
                transient=bool(created.raw_data.get("transient_environment", transient)),
                payload=dict(created.payload or {}),
            )

        return self._retrying(f"create deployment in {repo}", call)

    def set_status(
        self,
        repo: str,
        deployment_id: int,
        state: DeploymentState,
        *,
        environment_url: str | None = None,
        log_url: str | None = None,
        description: str = "",
    ) -> None:
        body: dict[str, Any] = {"state": DeploymentState(state).value}
        if description:
            body["description"] = _short(description)
        # Empty strings are left out: GitHub has answered `environment_url: ""` with invalid JSON
        # (bobheadxi/deployments#153).
        if environment_url:
            body["environment_url"] = environment_url
        if log_url:
            body["log_url"] = log_url
        path = f"/repos/{repo}/deployments/{deployment_id}/statuses"
        self._retrying(
            f"set deployment {deployment_id} to {body['state']}",
            lambda: self._client.requester.requestJsonAndCheck("POST", path, input=body),
        )

    def mark_superseded_inactive(self, repo: str, environment: str, keep_id: int) -> list[int]:
        """Set `inactive` on older deployments of `environment` whose latest state is success.

        GitHub's `auto_inactive` skips production and transient environments, so the guard
        does this itself. Returns the ids it deactivated.
        """
        superseded = [
            deployment_id
            for deployment_id, _ in self._deployments(repo, environment)
            if deployment_id < keep_id
            and self._latest_state(repo, deployment_id) == DeploymentState.SUCCESS
        ]
        for deployment_id in superseded:
            self.set_status(
                repo,
                deployment_id,
                DeploymentState.INACTIVE,
                description=f"superseded by deployment {keep_id}",
            )
        return superseded

    def last_successful_ref(self, repo: str, environment: str) -> str | None:
        """The ref of the newest deployment whose latest status is `success`."""
        for deployment_id, ref in self._deployments(repo, environment):
            if self._latest_state(repo, deployment_id) == DeploymentState.SUCCESS:
                return ref
        return None

    def dispatch_workflow(
        self, repo: str, workflow: str, ref: str, inputs: Mapping[str, str] | None = None
    ) -> None:
        path = f"/repos/{repo}/actions/workflows/{quote(workflow, safe='')}/dispatches"
        body = {"ref": ref, "inputs": dict(inputs or {})}
        self._retrying(
            f"dispatch workflow {workflow} in {repo}",
            lambda: self._client.requester.requestJsonAndCheck("POST", path, input=body),
        )

    def _deployments(self, repo: str, environment: str) -> list[tuple[int, str]]:
        """(id, ref) of the environment's deployments, newest first."""

        def call() -> list[tuple[int, str]]:
            listing = self._client.get_repo(repo).get_deployments(environment=environment)
            return [(d.id, d.ref) for d in islice(listing, _SCAN_LIMIT)]

        return self._retrying(f"list deployments of {environment} in {repo}", call)

    def _latest_state(self, repo: str, deployment_id: int) -> str | None:
        path = f"/repos/{repo}/deployments/{deployment_id}/statuses"

        def call() -> str | None:
            _, data = self._client.requester.requestJsonAndCheck(
                "GET", path, parameters={"per_page": 1}
            )
            if isinstance(data, list) and data and isinstance(data[0], dict):
                state = data[0].get("state")
                return state if isinstance(state, str) else None
            return None

        return self._retrying(f"read statuses of deployment {deployment_id}", call)

    def _retrying(self, what: str, call: Callable[[], T]) -> T:
        for attempt in range(1, self._attempts + 1):
            try:
                return call()
            except GitHubError as exc:
                error = exc
            except GithubException as exc:
                error = self._from_github(what, exc)
            except OSError as exc:  # requests' ConnectionError and Timeout are OSErrors
                error = GitHubError(
                    self._scrub(f"{what}: network error ({type(exc).__name__})"),
                    status=None,
                    retryable=True,
                )
            if not error.retryable or attempt == self._attempts:
                raise error from None
            self._sleep(self._backoff * 2 ** (attempt - 1))
        raise AssertionError("unreachable")  # pragma: no cover

    def _from_github(self, what: str, exc: GithubException) -> GitHubError:
        detail = exc.data.get("message") if isinstance(exc.data, dict) else None
        message = f"{what}: GitHub answered {exc.status}" + (f" ({detail})" if detail else "")
        return GitHubError(
            self._scrub(message), status=exc.status, retryable=exc.status in _RETRYABLE_STATUSES
        )

    def _scrub(self, message: str) -> str:
        return message.replace(self._token, "***") if self._token else message


def _short(description: str) -> str:
    if len(description) <= _DESCRIPTION_LIMIT:
        return description
    return description[: _DESCRIPTION_LIMIT - 1] + "…"
