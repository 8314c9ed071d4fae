"""ASGI middleware: request ids with an access log line, and the request body limit."""

from __future__ import annotations

import logging
import os
import re
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bounceback.api.errors import TooLarge, error_response
from bounceback.api.logs import request_id_var

access_log = logging.getLogger("bounceback.access")
error_log = logging.getLogger("bounceback.api")
_VALID_REQUEST_ID = re.compile(rb"^[A-Za-z0-9._:-]{1,64}$")
# A one-click link's path is its credential (escalation links in emails and cards): logs show
# the route, never the token.
_LINKS = "/api/escalation/links/"


def loggable_path(path: str) -> str:
    if not path.startswith(_LINKS):
        return path
    _, slash, rest = path[len(_LINKS) :].partition("/")
    return f"{_LINKS}<token>{slash}{rest}"


class RequestIdMiddleware:
    """Take the caller's X-Request-ID (when sane) or make one; echo it; log the request.

    It is also the last line of defence: an unexpected exception becomes a JSON 500 that carries
    the request id, logged with the traceback.
    """

    def __init__(self, app: ASGIApp, *, access_log_enabled: bool = True) -> None:
        self.app = app
        self.access_log_enabled = access_log_enabled

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = ""
        for name, value in scope["headers"]:
            if name == b"x-request-id" and _VALID_REQUEST_ID.match(value):
                request_id = value.decode()
                break
        request_id = request_id or os.urandom(16).hex()
        token = request_id_var.set(request_id)
        header = (b"x-request-id", request_id.encode())
        status = 500
        started_response = False
        started = time.perf_counter() if self.access_log_enabled else 0.0

        async def send_with_id(message: Message) -> None:
            nonlocal status, started_response
            if message["type"] == "http.response.start":
                status = message["status"]
                started_response = True
                message["headers"] = [*message.get("headers", []), header]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            error_log.exception(
                "unhandled error on %s %s", scope["method"], loggable_path(scope["path"])
            )
            if not started_response:
                response = error_response(
                    500,
                    "internal_error",
                    "the hub failed to handle this request; the request id is in its logs",
                    {"request_id": request_id},
                )
                await response(scope, receive, send_with_id)
        finally:
            if self.access_log_enabled:
                access_log.info(
                    "%s %s %d %.1fms",
                    scope["method"],
                    loggable_path(scope["path"]),
                    status,
                    (time.perf_counter() - started) * 1000,
                )
            request_id_var.reset(token)


class BodyLimitMiddleware:
    """Refuse bodies over ``max_bytes`` with 413, whether announced or streamed."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        announced = streamed = False
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit():
                if int(value) > self.max_bytes:
                    response = error_response(
                        413,
                        "payload_too_large",
                        f"request body is over the limit of {self.max_bytes} bytes",
                        {"limit": self.max_bytes},
                    )
                    await response(scope, receive, send)
                    return
                announced = True
            elif name == b"transfer-encoding":
                streamed = True
        if announced and not streamed:
            # The server reads exactly the announced length: there is nothing more to count.
            await self.app(scope, receive, send)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise TooLarge(
                        f"request body is over the limit of {self.max_bytes} bytes",
                        {"limit": self.max_bytes},
                    )
            return message

        await self.app(scope, limited_receive, send)
