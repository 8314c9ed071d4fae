"""A loopback fake of the GitHub REST API for deployments, for tests of the guard.

Standard library only (the guard must stay light): a `ThreadingHTTPServer` on 127.0.0.1 serving
the routes PyGithub calls for deployments, statuses and workflow dispatch, with the JSON shapes
of GitHub's replay fixtures. Point PyGithub at `base_url`. The state and the routes themselves
live in ``fake_github_routes.py``; this module is the server, the token check and the helpers
tests read.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from bounceback.guard.fake_github_routes import Dispatch, GitHubRoutes, Reply

__all__ = ["Dispatch", "FakeGitHub", "RecordedRequest"]


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    body: Any
    authorization: str | None


class FakeGitHub(GitHubRoutes):
    """In-memory GitHub for `repos`; requests must carry `token`.

    `prefix="/api/v3"` serves under a GitHub Enterprise Server style path.
    """

    def __init__(
        self, *, token: str, repos: tuple[str, ...] = ("octo/app",), prefix: str = ""
    ) -> None:
        super().__init__(repos)
        self.token = token
        self.prefix = prefix.rstrip("/")
        self.requests: list[RecordedRequest] = []
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
                return 404, Reply(404, "Not Found").body, {}
            path = path.removeprefix(self.prefix)
            if authorization not in (f"token {self.token}", f"Bearer {self.token}"):
                return 401, Reply(401, "Bad credentials").body, {}
            try:
                return self._route(method, path, query, body)
            except Reply as reply:
                return reply.status, reply.body, {}


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
