"""A loopback fake of the GitHub REST API for deployments, for tests of the guard.

Standard library only (the guard must stay light): a `ThreadingHTTPServer` on 127.0.0.1 serving
the routes PyGithub calls for deployments, statuses and workflow dispatch, with the JSON shapes
of GitHub's replay fixtures. Point PyGithub at `base_url`.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

__all__ = ["Dispatch", "FakeGitHub", "RecordedRequest"]

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
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    body: Any
    authorization: str | None


@dataclass(frozen=True)
class Dispatch:
    repo: str
    workflow: str
    ref: str
    inputs: dict[str, Any]


class _Reply(Exception):
    """Raised by a route to answer with an error status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.body = {"message": message, "documentation_url": "https://docs.github.com/rest"}


class FakeGitHub:
    """In-memory GitHub for `repos`; requests must carry `token`.

    `prefix="/api/v3"` serves under a GitHub Enterprise Server style path.
    """

    def __init__(
        self, *, token: str, repos: tuple[str, ...] = ("octo/app",), prefix: str = ""
    ) -> None:
        self.token = token
        self.prefix = prefix.rstrip("/")
        self.repos = set(repos)
        self.requests: list[RecordedRequest] = []
        self.dispatches: list[Dispatch] = []
        self._deployments: dict[int, dict[str, Any]] = {}
        self._statuses: dict[int, list[dict[str, Any]]] = {}
        self._next_id = 1000
        self._failures: list[int] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> FakeGitHub:
        fake = self

        class Handler(_Handler):
            github = fake

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        # A short poll keeps stop() fast; the default half second adds up over a test suite.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join()
        self._server = self._thread = None

    def __enter__(self) -> FakeGitHub:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        assert self._server is not None, "FakeGitHub is not started"
        return f"http://127.0.0.1:{self._server.server_address[1]}{self.prefix}"

    # -- test helpers ----------------------------------------------------------------------

    def fail_next(self, count: int, status: int = 502) -> None:
        """Answer the next `count` requests with `status` before handling any."""
        with self._lock:
            self._failures.extend([status] * count)

    def deployments(self, environment: str | None = None) -> list[dict[str, Any]]:
        """Deployments, oldest first, optionally of one environment."""
        with self._lock:
            return [
                dict(d)
                for d in self._deployments.values()
                if environment is None or d["environment"] == environment
            ]

    def statuses_of(self, deployment_id: int) -> list[str]:
        """States of a deployment's statuses in the order they were set."""
        with self._lock:
            return [s["state"] for s in self._statuses[deployment_id]]

    def status_records(self, deployment_id: int) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(s) for s in self._statuses[deployment_id]]

    # -- request handling ------------------------------------------------------------------

    def handle(
        self, method: str, path: str, query: dict[str, str], body: Any, authorization: str | None
    ) -> tuple[int, Any, dict[str, str]]:
        with self._lock:
            self.requests.append(RecordedRequest(method, path, query, body, authorization))
            if self._failures:
                status = self._failures.pop(0)
                return status, {"message": "Server Error"}, {}
            if not path.startswith(self.prefix + "/"):
                return 404, _Reply(404, "Not Found").body, {}
            path = path.removeprefix(self.prefix)
            if authorization not in (f"token {self.token}", f"Bearer {self.token}"):
                return 401, _Reply(401, "Bad credentials").body, {}
            try:
                return self._route(method, path, query, body)
            except _Reply as reply:
                return reply.status, reply.body, {}

    def _route(
        self, method: str, path: str, query: dict[str, str], body: Any
    ) -> tuple[int, Any, dict[str, str]]:
        for verb, pattern, handler in _ROUTES:
            match = pattern.match(path)
            if verb == method and match:
                params = {k: unquote(v) for k, v in match.groupdict().items()}
                repo = f"{params.pop('owner')}/{params.pop('name')}"
                if repo not in self.repos:
                    raise _Reply(404, "Not Found")
                result: tuple[int, Any, dict[str, str]] = getattr(self, handler)(
                    repo, params, query, body
                )
                return result
        raise _Reply(404, "Not Found")

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
            raise _Reply(422, 'Invalid request.\n\n"ref" wasn\'t supplied.')
        description = body.get("description") or ""
        if len(description) > 140:
            raise _Reply(422, "Validation Failed: description is too long (maximum is 140)")
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
            raise _Reply(404, "Not Found")
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
            raise _Reply(422, "Validation Failed: state is not included in the list")
        if len(body.get("description") or "") > 140:
            raise _Reply(422, "Validation Failed: description is too long (maximum is 140)")
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
            raise _Reply(422, 'Invalid request.\n\n"ref" wasn\'t supplied.')
        inputs = body.get("inputs") or {}
        if not isinstance(inputs, dict):
            raise _Reply(422, "Invalid request.\n\nFor 'properties/inputs', is not an object.")
        self.dispatches.append(Dispatch(repo, params["wf"], body["ref"], dict(inputs)))
        return 204, None, {}


class _Handler(BaseHTTPRequestHandler):
    github: FakeGitHub

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests read `FakeGitHub.requests` instead."""

    def _serve(self) -> None:
        parts = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        headers: dict[str, str] = {}
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            status, data = 400, {"message": "Problems parsing JSON"}
        else:
            status, data, headers = self.github.handle(
                self.command, parts.path, query, body, self.headers.get("Authorization")
            )
        encoded = b"" if data is None else json.dumps(data).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(encoded)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(encoded)


def _public(deployment: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in deployment.items() if not k.startswith("_")}


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
