"""The in-memory state and REST routes behind FakeGitHub: deployments, their statuses, workflows
and workflow dispatches, with the JSON shapes of GitHub's replay fixtures.

`FakeGitHub` (``testing.py``) adds the loopback HTTP server, authentication and the helpers tests
call; this module is what GitHub itself would hold and answer. Callers hold the lock.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote, urlencode

__all__ = ["Dispatch", "GitHubRoutes", "Reply"]

STATES = frozenset({"error", "failure", "inactive", "in_progress", "queued", "pending", "success"})
_FILTERS = ("sha", "ref", "task", "environment")
_CREATOR = {"login": "github-actions[bot]", "id": 41898282, "type": "Bot"}
_REPO = r"/repos/(?P<owner>[^/]+)/(?P<name>[^/]+)"
_ROUTES: list[tuple[str, re.Pattern[str], str]] = [
    ("GET", re.compile(_REPO + r"$"), "_get_repo"),
    ("GET", re.compile(_REPO + r"/deployments$"), "_list_deployments"),
    ("POST", re.compile(_REPO + r"/deployments$"), "_create_deployment"),
    ("GET", re.compile(_REPO + r"/deployments/(?P<id>\d+)$"), "_get_deployment"),
    ("GET", re.compile(_REPO + r"/deployments/(?P<id>\d+)/statuses$"), "_list_statuses"),
    ("POST", re.compile(_REPO + r"/deployments/(?P<id>\d+)/statuses$"), "_create_status"),
    ("GET", re.compile(_REPO + r"/actions/workflows/(?P<wf>[^/]+)$"), "_get_workflow"),
    ("POST", re.compile(_REPO + r"/actions/workflows/(?P<wf>[^/]+)/dispatches$"), "_dispatch"),
]


@dataclass(frozen=True)
class Dispatch:
    repo: str
    workflow: str
    ref: str
    inputs: dict[str, Any]


class Reply(Exception):
    """Raised by a route to answer with an error status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.body = {"message": message, "documentation_url": "https://docs.github.com/rest"}


class GitHubRoutes:
    """What GitHub holds for `repos`; `base_url` is where it is served (for the `url` fields)."""

    def __init__(self, repos: tuple[str, ...]) -> None:
        self.repos = set(repos)
        self.dispatches: list[Dispatch] = []
        self._deployments: dict[int, dict[str, Any]] = {}
        self._statuses: dict[int, list[dict[str, Any]]] = {}
        self._next_id = 1000

    @property
    def base_url(self) -> str:
        raise NotImplementedError

    def _route(
        self, method: str, path: str, query: dict[str, str], body: Any
    ) -> tuple[int, Any, dict[str, str]]:
        for verb, pattern, handler in _ROUTES:
            match = pattern.match(path)
            if verb == method and match:
                params = {k: unquote(v) for k, v in match.groupdict().items()}
                repo = f"{params.pop('owner')}/{params.pop('name')}"
                if repo not in self.repos:
                    raise Reply(404, "Not Found")
                result: tuple[int, Any, dict[str, str]] = getattr(self, handler)(
                    repo, params, query, body
                )
                return result
        raise Reply(404, "Not Found")

    def _url(self, *parts: object) -> str:
        return "/".join([self.base_url, *(str(p) for p in parts)])

    def _get_repo(self, repo: str, _p: dict[str, str], _q: dict[str, str], _b: Any) -> Any:
        owner, name = repo.split("/")
        return (
            200,
            {
                "id": 1,
                "node_id": "R_1",
                "name": name,
                "full_name": repo,
                "owner": {"login": owner, "id": 2, "type": "Organization"},
                "url": self._url("repos", repo),
                "html_url": f"https://github.com/{repo}",
                "default_branch": "main",
                "private": False,
            },
            {},
        )

    def _create_deployment(
        self, repo: str, _p: dict[str, str], _q: dict[str, str], body: Any
    ) -> Any:
        if not isinstance(body, dict) or not isinstance(body.get("ref"), str):
            raise Reply(422, 'Invalid request.\n\n"ref" wasn\'t supplied.')
        description = body.get("description") or ""
        if len(description) > 140:
            raise Reply(422, "Validation Failed: description is too long (maximum is 140)")
        environment = body.get("environment", "production")
        payload = body.get("payload", {})
        if isinstance(payload, str):
            payload = json.loads(payload or "{}")
        self._next_id += 1
        deployment_id, now = self._next_id, _now()
        deployment = {
            "url": self._url("repos", repo, "deployments", deployment_id),
            "id": deployment_id,
            "node_id": f"DE_{deployment_id}",
            "sha": hashlib.sha1(body["ref"].encode(), usedforsecurity=False).hexdigest(),
            "ref": body["ref"],
            "task": body.get("task", "deploy"),
            "payload": payload,
            "original_environment": environment,
            "environment": environment,
            "description": description,
            "creator": _CREATOR,
            "created_at": now,
            "updated_at": now,
            "statuses_url": self._url("repos", repo, "deployments", deployment_id, "statuses"),
            "repository_url": self._url("repos", repo),
            "transient_environment": bool(body.get("transient_environment", False)),
            "production_environment": bool(
                body.get("production_environment", environment == "production")
            ),
            "performed_via_github_app": None,
            # Not part of GitHub's shape; kept to check what the client sent.
            "_repo": repo,
            "_auto_merge": body.get("auto_merge", True),
            "_required_contexts": body.get("required_contexts"),
        }
        self._deployments[deployment_id] = deployment
        self._statuses[deployment_id] = []
        return 201, _public(deployment), {}

    def _list_deployments(
        self, repo: str, _p: dict[str, str], query: dict[str, str], _b: Any
    ) -> Any:
        found = [
            d
            for d in reversed(self._deployments.values())
            if d["_repo"] == repo and all(d[key] == query[key] for key in _FILTERS if key in query)
        ]
        per_page = min(int(query.get("per_page", "30")), 100)
        page = int(query.get("page", "1"))
        headers: dict[str, str] = {}
        if len(found) > page * per_page:
            following = urlencode({**query, "per_page": per_page, "page": page + 1})
            headers["Link"] = f'<{self._url("repos", repo, "deployments")}?{following}>; rel="next"'
        chunk = found[(page - 1) * per_page : page * per_page]
        return 200, [_public(d) for d in chunk], headers

    def _deployment(self, repo: str, params: dict[str, str]) -> dict[str, Any]:
        deployment = self._deployments.get(int(params["id"]))
        if deployment is None or deployment["_repo"] != repo:
            raise Reply(404, "Not Found")
        return deployment

    def _get_deployment(
        self, repo: str, params: dict[str, str], _q: dict[str, str], _b: Any
    ) -> Any:
        return 200, _public(self._deployment(repo, params)), {}

    def _list_statuses(
        self, repo: str, params: dict[str, str], query: dict[str, str], _b: Any
    ) -> Any:
        deployment = self._deployment(repo, params)
        per_page = min(int(query.get("per_page", "30")), 100)
        newest_first = list(reversed(self._statuses[deployment["id"]]))
        return 200, newest_first[:per_page], {}

    def _create_status(
        self, repo: str, params: dict[str, str], _q: dict[str, str], body: Any
    ) -> Any:
        deployment = self._deployment(repo, params)
        if not isinstance(body, dict) or body.get("state") not in STATES:
            raise Reply(422, "Validation Failed: state is not included in the list")
        if len(body.get("description") or "") > 140:
            raise Reply(422, "Validation Failed: description is too long (maximum is 140)")
        log_url = body.get("log_url") or body.get("target_url") or ""
        status = self._append_status(deployment, body["state"], body, log_url)
        if body["state"] == "success" and body.get("auto_inactive", True):
            self._auto_inactivate(deployment)
        return 201, status, {}

    def _append_status(
        self, deployment: dict[str, Any], state: str, body: dict[str, Any], log_url: str
    ) -> dict[str, Any]:
        self._next_id += 1
        status_id, now = self._next_id, _now()
        status = {
            "url": f"{deployment['statuses_url']}/{status_id}",
            "id": status_id,
            "node_id": f"DES_{status_id}",
            "state": state,
            "creator": _CREATOR,
            "description": body.get("description") or "",
            "environment": body.get("environment") or deployment["environment"],
            "target_url": log_url,
            "log_url": log_url,
            "environment_url": body.get("environment_url") or "",
            "created_at": now,
            "updated_at": now,
            "deployment_url": deployment["url"],
            "repository_url": deployment["repository_url"],
            "performed_via_github_app": None,
        }
        self._statuses[deployment["id"]].append(status)
        return status

    def _auto_inactivate(self, current: dict[str, Any]) -> None:
        """GitHub's documented `auto_inactive`: only non-production, non-transient ones."""
        for other in self._deployments.values():
            statuses = self._statuses[other["id"]]
            if (
                other["id"] != current["id"]
                and other["_repo"] == current["_repo"]
                and other["environment"] == current["environment"]
                and not other["production_environment"]
                and not other["transient_environment"]
                and statuses
                and statuses[-1]["state"] == "success"
            ):
                self._append_status(other, "inactive", {}, "")

    def _get_workflow(self, repo: str, params: dict[str, str], _q: dict[str, str], _b: Any) -> Any:
        workflow, now = params["wf"], _now()
        return (
            200,
            {
                "id": 161335,
                "node_id": "W_1",
                "name": workflow,
                "path": f".github/workflows/{workflow}",
                "state": "active",
                "url": self._url("repos", repo, "actions", "workflows", workflow),
                "html_url": f"https://github.com/{repo}/actions/workflows/{workflow}",
                "badge_url": f"https://github.com/{repo}/workflows/{workflow}/badge.svg",
                "created_at": now,
                "updated_at": now,
            },
            {},
        )

    def _dispatch(self, repo: str, params: dict[str, str], _q: dict[str, str], body: Any) -> Any:
        if not isinstance(body, dict) or not isinstance(body.get("ref"), str):
            raise Reply(422, 'Invalid request.\n\n"ref" wasn\'t supplied.')
        inputs = body.get("inputs") or {}
        if not isinstance(inputs, dict):
            raise Reply(422, "Invalid request.\n\nFor 'properties/inputs', is not an object.")
        self.dispatches.append(Dispatch(repo, params["wf"], body["ref"], dict(inputs)))
        return 204, None, {}


def _public(deployment: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in deployment.items() if not k.startswith("_")}


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
