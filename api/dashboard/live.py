"""``GET /events``: the change feed as server-sent events, for open dashboard pages."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from bounceback.api.auth.roles import Role
from bounceback.api.context import Hub
from bounceback.api.dashboard.changes import TOPICS
from bounceback.api.dashboard.web import page

HEARTBEAT_S = 15.0


def event(name: str, data: object) -> str:
    return f"event: {name}\ndata: {json.dumps(data)}\n\n"


@page(Role.VIEWER)
async def events(request: Request) -> Response:
    hub: Hub = request.app.state.hub
    feed = hub.changes

    async def stream() -> AsyncIterator[str]:
        async with feed.listen() as queue:
            yield "retry: 2000\n" + event("hello", {"topics": sorted(TOPICS)})
            while True:
                try:
                    topics = await asyncio.wait_for(queue.get(), HEARTBEAT_S)
                except TimeoutError:
                    yield ": keep-alive\n\n"
                    continue
                if topics is None:
                    return
                yield event("change", {"topics": topics})

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


routes = [Route("/events", events, methods=["GET"])]
