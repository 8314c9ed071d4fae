"""Loopback servers speaking the Slack Web API and Twilio's REST API as their docs describe:
what the hub sends is kept, and answers (including errors) can be chosen per method."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bounceback.api.testing import serve

GUARD_S = 15  # a bound on waits for the hub, never reached when things work


@dataclass
class Call:
    method: str
    body: dict[str, Any]
    headers: dict[str, str]


@dataclass
class FakeSlack:
    """``POST /api/<method>`` with JSON, ``Authorization: Bearer xoxb-…``; answers
    ``{"ok": true, "channel", "ts"}``; ``errors[method]`` = (error, HTTP status[, headers])."""

    calls: list[Call] = field(default_factory=list)
    errors: dict[str, list[tuple[str, int, dict[str, str]]]] = field(default_factory=dict)
    url: str = ""
    _ts: int = 0

    def fail(self, method: str, error: str, status: int = 200, **headers: str) -> None:
        self.errors.setdefault(method, []).append((error, status, headers))

    async def _api(self, request: Request) -> Response:
        method = request.path_params["method"]
        body = json.loads(await request.body() or b"{}")
        self.calls.append(Call(method, body, dict(request.headers)))
        if self.errors.get(method):
            error, status, headers = self.errors[method].pop(0)
            return JSONResponse({"ok": False, "error": error}, status_code=status, headers=headers)
        if method == "chat.postMessage" and "thread_ts" not in body:
            self._ts += 1
            channel = "D" + str(body["channel"])[1:]  # a DM channel per user, as Slack does
            return JSONResponse(
                {"ok": True, "channel": channel, "ts": f"1767225600.{self._ts:06d}"}
            )
        return JSONResponse({"ok": True, "channel": body.get("channel"), "ts": body.get("ts")})

    def of(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    async def wait_for(self, check: Callable[[FakeSlack], bool]) -> None:
        await _wait(lambda: check(self))

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/api/{method}", self._api, methods=["POST"])])


@dataclass
class FakeTwilio:
    """``POST /2010-04-01/Accounts/{sid}/Messages.json`` and ``Calls.json``, form-encoded with
    HTTP Basic auth; answers 201 with the resource's JSON; ``errors`` = (status, code)."""

    messages: list[Call] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)
    errors: list[tuple[int, int]] = field(default_factory=list)
    url: str = ""

    async def _create(self, request: Request) -> Response:
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
        kind = request.path_params["kind"]
        sid = request.path_params["sid"]
        if self.errors:
            status, code = self.errors.pop(0)
            return JSONResponse(
                {"code": code, "message": "refused", "more_info": "", "status": status},
                status_code=status,
            )
        if kind == "Messages":
            self.messages.append(Call(kind, form, dict(request.headers)))
            prefix, number = "SM", len(self.messages)
        else:
            self.calls.append(Call(kind, form, dict(request.headers)))
            prefix, number = "CA", len(self.calls)
        resource = {
            "sid": f"{prefix}{number:032x}",
            "account_sid": sid,
            "to": form.get("To"),
            "from": form.get("From"),
            "status": "queued",
            "body": form.get("Body"),
        }
        return JSONResponse(resource, status_code=201)

    async def wait_for(self, check: Callable[[FakeTwilio], bool]) -> None:
        await _wait(lambda: check(self))

    def app(self) -> Starlette:
        path = "/2010-04-01/Accounts/{sid}/{kind}.json"
        return Starlette(routes=[Route(path, self._create, methods=["POST"])])


async def _wait(check: Callable[[], bool]) -> None:
    async with asyncio.timeout(GUARD_S):
        while not check():  # noqa: ASYNC110 - the hub fills it from its own tasks
            await asyncio.sleep(0.01)


@asynccontextmanager
async def running(fake: FakeSlack | FakeTwilio) -> AsyncIterator[str]:
    async with serve(fake.app()) as port:
        fake.url = f"http://127.0.0.1:{port}"
        yield fake.url
