"""The partners a soak's notifications reach, on loopback: Slack's Web API, Twilio's Messages and
Calls, and an SMTP server. Each keeps every delivery under a key naming one notification, so
that one delivered twice shows up. Not a bench itself.

Keys: an email's Message-ID and a call's ``notification`` parameter carry the hub's notification
id; an SMS and a Slack message carry the incident number and what they say (a page or a
resolution), sent to one person: ``("sms", "+1555…", 12, "page")``.

A helper module, not a script: it has no --quick of its own; the scripts that import it take
--quick and pass the shorter run down.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any
from urllib.parse import parse_qs

from aiosmtpd.controller import Controller
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bounceback.api.testing import free_port, serve

ACCOUNT_SID = "AC" + "0" * 32
AUTH_TOKEN = "soak-twilio-token"  # noqa: S105 - a loopback fake's
FROM_NUMBER = "+15005550006"
SLACK_TOKEN = "xoxb-soak"  # noqa: S105 - a loopback fake's

_TITLE = re.compile(r"^\[(?P<what>[A-Z]+)\] #(?P<incident>\d+) ")
_SMS = re.compile(r"^BB#(?P<incident>\d+) (?P<what>[A-Z]+)")
_NOTIFICATION = re.compile(r"notification=(\d+)")
_MESSAGE_ID = re.compile(rb"Message-ID: <notification-(\d+)@", re.I)
_PURPOSES = {"RESOLVED": "resolved", "ACKNOWLEDGED": "acknowledged"}  # else a page


def _purpose(what: str) -> str:
    return _PURPOSES.get(what, "page")


Key = tuple[str, str, int, str]  # channel, address or notification id, incident, purpose


@dataclass
class Deliveries:
    """Every delivery by key, and when the first of each arrived."""

    counts: Counter[Key] = field(default_factory=Counter)
    first_at: dict[Key, float] = field(default_factory=dict)
    other: int = 0  # requests that are not notifications (message updates, thread notes)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, key: Key) -> None:
        with self._lock:
            self.counts[key] += 1
            self.first_at.setdefault(key, time.time())

    @property
    def received(self) -> int:
        return len(self.counts)

    @property
    def duplicated(self) -> int:
        """Notifications a person got more than once: the same Slack message, text or call
        twice. An email sent again under its Message-ID is counted apart (``resent_emails``)."""
        return sum(n - 1 for key, n in self.counts.items() if key[0] != "email")

    @property
    def resent_emails(self) -> int:
        """Emails delivered again under the same Message-ID (the mail protocol cannot be asked
        what it took; mail systems keep one message per Message-ID)."""
        return sum(n - 1 for key, n in self.counts.items() if key[0] == "email")

    def by_channel(self) -> dict[str, int]:
        found: Counter[str] = Counter()
        for key in self.counts:
            found[key[0]] += 1
        return dict(found)


class Partners:
    def __init__(self) -> None:
        self.deliveries = Deliveries()
        self._ts = 0
        self._sids = 0
        # What was posted or created, for the look-ups a hub makes after an interrupted attempt
        # (Slack's conversations.history/.replies with metadata, Twilio's lists).
        self._posted: dict[str, list[dict[str, Any]]] = {}
        self._created: dict[str, list[dict[str, Any]]] = {}
        self.slack_url = ""
        self.twilio_url = ""
        self.smtp_port = 0

    # Slack: chat.postMessage (a new message, or a reply in its thread) and chat.update ----------

    async def _slack(self, request: Request) -> Response:
        method = request.path_params["method"]
        raw = await request.body()
        body: dict[str, Any] = dict(request.query_params)
        if request.headers.get("content-type", "").startswith("application/json"):
            body |= json.loads(raw or b"{}")
        else:
            body |= {k: v[0] for k, v in parse_qs(raw.decode()).items()}
        if method.startswith("conversations."):
            return JSONResponse(self._conversations(method, body))
        channel = str(body.get("channel", ""))
        if method != "chat.postMessage":
            self.deliveries.other += 1
            return JSONResponse({"ok": True, "channel": channel, "ts": body.get("ts")})
        person = channel[1:]  # U0ANN for a new message, D0ANN (its DM) for a reply
        found = _TITLE.match(str(body.get("text", "")).replace("&amp;", "&"))
        if found:
            self.deliveries.add(("slack", person, int(found["incident"]), _purpose(found["what"])))
        else:
            self.deliveries.other += 1
        self._ts += 1
        ts = f"{time.time():.0f}.{self._ts:06d}"
        dm = "D" + person
        posted = {"ts": ts, "metadata": body.get("metadata"), "thread_ts": body.get("thread_ts")}
        self._posted.setdefault(dm, []).append(posted)
        return JSONResponse({"ok": True, "channel": dm, "ts": body.get("thread_ts") or ts})

    def _conversations(self, method: str, body: dict[str, Any]) -> dict[str, Any]:
        if method == "conversations.open":
            return {"ok": True, "channel": {"id": "D" + str(body["users"])[1:]}}
        posted = self._posted.get(str(body.get("channel")), [])
        if method == "conversations.replies":
            thread = str(body["ts"])
            found = [m for m in posted if thread in (m["ts"], m["thread_ts"])]
        else:
            found = [m for m in posted if not m["thread_ts"]]
        return {"ok": True, "messages": list(reversed(found)), "has_more": False}

    # Twilio: Messages.json and Calls.json, form-encoded ------------------------------------------

    async def _twilio(self, request: Request) -> Response:
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
        kind = request.path_params["kind"]
        to = form.get("To", "")
        if kind == "Messages":
            found = _SMS.match(form.get("Body", ""))
            if found:
                key = ("sms", to, int(found["incident"]), _purpose(found["what"]))
                self.deliveries.add(key)
            sid = f"SM{self._next_sid():032x}"
        else:
            found = _NOTIFICATION.search(form.get("Twiml", ""))
            if found:
                self.deliveries.add(("phone", found[1], 0, "page"))
            sid = f"CA{self._next_sid():032x}"
        resource = {
            "sid": sid,
            "account_sid": ACCOUNT_SID,
            "to": to,
            "from": form.get("From"),
            "body": form.get("Body"),
            "status": "queued",
            "date_created": format_datetime(datetime.now(UTC)),
        }
        self._created.setdefault(kind, []).append(resource)
        return JSONResponse(resource, status_code=201)

    async def _twilio_list(self, request: Request) -> Response:
        kind = request.path_params["kind"]
        query = request.query_params
        found = [
            r
            for r in reversed(self._created.get(kind, []))
            if r["to"] == query.get("To", r["to"]) and r["from"] == query.get("From", r["from"])
        ]
        size = int(query.get("PageSize", 50))
        return JSONResponse({kind.lower(): found[:size], "next_page_uri": None, "page": 0})

    def _next_sid(self) -> int:
        self._sids += 1
        return self._sids

    # SMTP ----------------------------------------------------------------------------------------

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        found = _MESSAGE_ID.search(envelope.content)
        if found:
            self.deliveries.add(("email", found[1].decode(), 0, "mail"))
        return "250 OK"

    @asynccontextmanager
    async def running(self) -> AsyncIterator[Partners]:
        slack = Starlette(routes=[Route("/api/{method}", self._slack, methods=["GET", "POST"])])
        path = "/2010-04-01/Accounts/{sid}/{kind}.json"
        twilio = Starlette(
            routes=[
                Route(path, self._twilio, methods=["POST"]),
                Route(path, self._twilio_list, methods=["GET"]),
            ]
        )
        smtp = Controller(self, hostname="127.0.0.1", port=free_port())
        async with AsyncExitStack() as stack:
            slack_port = await stack.enter_async_context(serve(slack))
            twilio_port = await stack.enter_async_context(serve(twilio))
            smtp.start()
            stack.callback(smtp.stop)
            self.slack_url = f"http://127.0.0.1:{slack_port}/api/"
            self.twilio_url = f"http://127.0.0.1:{twilio_port}"
            self.smtp_port = smtp.port
            yield self

    def hub_environment(self) -> dict[str, str]:
        """What a hub needs in its environment to use these partners."""
        return {
            "SLACK_BOT_TOKEN": SLACK_TOKEN,
            "SLACK_API_URL": self.slack_url,
            "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
            "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "TWILIO_FROM_NUMBER": FROM_NUMBER,
            "TWILIO_API_URL": self.twilio_url,
            "SMS_NOTIFICATIONS_ENABLED": "true",
            "PHONE_NOTIFICATIONS_ENABLED": "true",
        }
