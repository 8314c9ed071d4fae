"""Loopback servers speaking the Slack Web API and Twilio's REST API as their docs describe:
what the hub sends is kept, and answers (including errors) can be chosen per method."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
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
    # Posted messages by channel, for conversations.history and .replies (with metadata).
    posted: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    # Set: store postMessages, then answer none until ``released`` (a hub killed after Slack
    # took the message); ``holding`` is set once one is held.
    hold: asyncio.Event = field(default_factory=asyncio.Event)
    holding: asyncio.Event = field(default_factory=asyncio.Event)
    released: asyncio.Event = field(default_factory=asyncio.Event)
    _ts: int = 0

    def fail(self, method: str, error: str, status: int = 200, **headers: str) -> None:
        self.errors.setdefault(method, []).append((error, status, headers))

    async def _api(self, request: Request) -> Response:
        method = request.path_params["method"]
        raw = await request.body()
        body: dict[str, Any] = dict(request.query_params)  # slack_sdk's GETs, some POSTs
        if request.headers.get("content-type", "").startswith("application/json"):
            body |= json.loads(raw or b"{}")
        else:
            body |= {k: v[0] for k, v in parse_qs(raw.decode()).items()}
        self.calls.append(Call(method, body, dict(request.headers)))
        if self.errors.get(method):
            error, status, headers = self.errors[method].pop(0)
            return JSONResponse({"ok": False, "error": error}, status_code=status, headers=headers)
        if method.startswith("conversations."):
            return JSONResponse(self._conversations(method, body))
        if method == "chat.postMessage":
            return await self._post(body)
        return JSONResponse({"ok": True, "channel": body.get("channel"), "ts": body.get("ts")})

    async def _post(self, body: dict[str, Any]) -> Response:
        self._ts += 1
        ts = f"1767225600.{self._ts:06d}"
        # A DM channel per user, as Slack does (D0ANN for U0ANN); replies name it already.
        channel = str(body["channel"])
        channel = "D" + channel[1:] if channel.startswith("U") else channel
        stored = {"ts": ts, "text": body.get("text"), "metadata": body.get("metadata")}
        if "thread_ts" in body:
            stored["thread_ts"] = body["thread_ts"]
        self.posted.setdefault(channel, []).append(stored)
        if self.hold.is_set():
            self.holding.set()
            await self.released.wait()  # the hub is killed meanwhile
        if "thread_ts" in body:
            return JSONResponse({"ok": True, "channel": channel, "ts": body["thread_ts"]})
        return JSONResponse({"ok": True, "channel": channel, "ts": ts})

    def _conversations(self, method: str, body: dict[str, Any]) -> dict[str, Any]:
        if method == "conversations.open":
            return {"ok": True, "channel": {"id": "D" + str(body["users"])[1:]}}
        messages = self.posted.get(str(body.get("channel")), [])
        if method == "conversations.replies":
            thread = str(body["ts"])
            found = [m for m in messages if thread in (m["ts"], m.get("thread_ts"))]
        else:
            found = [m for m in messages if "thread_ts" not in m]
        # ``oldest`` is not applied: these timestamps are not the hub's clock's.
        return {"ok": True, "messages": list(reversed(found)), "has_more": False}

    def of(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    async def wait_for(self, check: Callable[[FakeSlack], bool]) -> None:
        await _wait(lambda: check(self))

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/api/{method}", self._api, methods=["GET", "POST"])])


@dataclass
class FakeTwilio:
    """``POST /2010-04-01/Accounts/{sid}/Messages.json`` and ``Calls.json``, form-encoded with
    HTTP Basic auth; answers 201 with the resource's JSON; ``errors`` = (status, code)."""

    messages: list[Call] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)
    errors: list[tuple[int, int]] = field(default_factory=list)
    url: str = ""
    # Every resource created, for the list endpoints (GET …/Messages.json?To=&From=).
    created: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

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
            "date_created": format_datetime(datetime.now(UTC)),
        }
        self.created.setdefault(kind, []).append(resource)
        return JSONResponse(resource, status_code=201)

    async def _list(self, request: Request) -> Response:
        kind = request.path_params["kind"]
        query = request.query_params
        found = [
            r
            for r in reversed(self.created.get(kind, []))  # newest first, as Twilio lists
            if r["to"] == query.get("To", r["to"]) and r["from"] == query.get("From", r["from"])
        ]
        size = int(query.get("PageSize", 50))
        return JSONResponse(
            {kind.lower(): found[:size], "next_page_uri": None, "page": 0, "page_size": size}
        )

    async def wait_for(self, check: Callable[[FakeTwilio], bool]) -> None:
        await _wait(lambda: check(self))

    def app(self) -> Starlette:
        path = "/2010-04-01/Accounts/{sid}/{kind}.json"
        return Starlette(
            routes=[
                Route(path, self._create, methods=["POST"]),
                Route(path, self._list, methods=["GET"]),
            ]
        )


async def _wait(check: Callable[[], bool]) -> None:
    async with asyncio.timeout(GUARD_S):
        while not check():  # noqa: ASYNC110 - the hub fills it from its own tasks
            await asyncio.sleep(0.01)


@asynccontextmanager
async def running(fake: FakeSlack | FakeTwilio) -> AsyncIterator[str]:
    async with serve(fake.app()) as port:
        fake.url = f"http://127.0.0.1:{port}"
        yield fake.url
