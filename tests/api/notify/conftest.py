"""A real hub (uvicorn on loopback, a fake clock) whose Slack and Twilio are loopback fakes,
with people reachable on Slack, SMS and phone, and helpers to sign requests as they do."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from pydantic import SecretStr
from twilio.request_validator import RequestValidator

from bounceback.api.auth.roles import Role
from bounceback.api.clock import FakeClock
from bounceback.api.escalation.config import EscalationConfig
from bounceback.api.settings import HubSettings
from bounceback.api.testing import RunningHub, free_port, running_hub
from tests.api.notify.fakes import FakeSlack, FakeTwilio, running

SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
AUTH_TOKEN = "twilio-auth-token"
ACCOUNT_SID = "AC" + "0" * 32
FROM = "+15005550006"
PEOPLE = {
    "ann": {"slack_user_id": "U0ANN", "phone": "+15550000001"},
    "bob": {"slack_user_id": "U0BOB", "phone": "+15550000002"},
}
GUARD_S = 15


def escalation(channels: list[str]) -> EscalationConfig:
    people = [
        {"id": pid, "name": pid.title(), "channels": channels, **fields}
        for pid, fields in PEOPLE.items()
    ]
    policy = {
        "id": "default",
        "name": "Default",
        "levels": [
            {"name": "L1", "targets": ["person:ann"]},
            {"name": "L2", "targets": ["person:bob"]},
        ],
    }
    return EscalationConfig.model_validate({"people": people, "policies": [policy]})


@dataclass
class ChannelHub:
    hub: RunningHub
    slack: FakeSlack
    twilio: FakeTwilio
    clock: FakeClock

    async def page(self, summary: str = "checkout is down", severity: str = "critical") -> int:
        body = {"source": "test", "summary": summary, "severity": severity, "fingerprint": summary}
        response = await self.hub.client.post(
            "/api/alerts", json=body, headers=self.hub.auth(Role.OPERATOR)
        )
        assert response.status_code == 202, response.text
        incident_id: int = response.json()["incident_id"]
        return incident_id

    async def incident(self, incident_id: int) -> dict[str, Any]:
        response = await self.hub.client.get(
            f"/api/incidents/{incident_id}", headers=self.hub.auth(Role.VIEWER)
        )
        found: dict[str, Any] = response.json()
        return found

    async def timeline(self, incident_id: int) -> list[str]:
        return [e["message"] for e in (await self.incident(incident_id))["timeline"]]

    async def wait_for_timeline(self, incident_id: int, text: str) -> list[str]:
        async with asyncio.timeout(GUARD_S):
            while True:
                lines = await self.timeline(incident_id)
                if any(text in line for line in lines):
                    return lines
                await asyncio.sleep(0.02)  # the hub's scheduler delivers in its own tasks

    # Slack signs "v0:{timestamp}:{raw body}" with the signing secret (HMAC-SHA256).
    async def slack_post(
        self, path: str, body: str, *, age_s: float = 0, secret: str = SIGNING_SECRET
    ) -> httpx.Response:
        timestamp = str(int(self.clock.now().timestamp() - age_s))
        base = f"v0:{timestamp}:{body}".encode()
        signature = "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Slack-Request-Timestamp": timestamp,
            "X-Slack-Signature": signature,
        }
        return await self.hub.client.post(path, content=body, headers=headers)

    async def press(
        self, action_id: str, incident_id: int, user: str = "U0ANN", **kw: Any
    ) -> httpx.Response:
        [posted] = [c for c in self.slack.of("chat.postMessage") if "thread_ts" not in c.body][:1]
        payload = {
            "type": "block_actions",
            "user": {"id": user, "username": "ann", "team_id": "T0TEAM"},
            "api_app_id": "A0APP",
            "team": {"id": "T0TEAM", "domain": "example"},
            "container": {
                "type": "message",
                "message_ts": "1767225600.000001",
                "channel_id": "D0ANN",
            },
            "trigger_id": "123.456.abc",
            "channel": {"id": "D0ANN", "name": "directmessage"},
            "message": {
                "type": "message",
                "ts": "1767225600.000001",
                "blocks": posted.body["blocks"],
            },
            "response_url": "https://hooks.slack.invalid/actions/T0TEAM/1/abc",
            "actions": [
                {
                    "type": "button",
                    "action_id": action_id,
                    "block_id": "bounceback_incident",
                    "text": {"type": "plain_text", "text": action_id},
                    "value": str(incident_id),
                    "action_ts": str(time.time()),
                }
            ],
        }
        body = urlencode({"payload": json.dumps(payload)})
        return await self.slack_post("/api/integrations/slack/interactions", body, **kw)

    async def twilio_post(
        self, path: str, params: dict[str, str], *, signed: bool = True, token: str = AUTH_TOKEN
    ) -> httpx.Response:
        url = self.hub.url + path
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        if signed:
            headers["X-Twilio-Signature"] = RequestValidator(token).compute_signature(url, params)
        return await self.hub.client.post(path, content=urlencode(params), headers=headers)

    async def sms_reply(self, body: str, sender: str = "+15550000001", **kw: Any) -> httpx.Response:
        params = {
            "MessageSid": "SM" + "1" * 32,
            "AccountSid": ACCOUNT_SID,
            "From": sender,
            "To": FROM,
            "Body": body,
            "NumMedia": "0",
        }
        return await self.twilio_post("/api/integrations/twilio/sms", params, **kw)


ChannelHubFactory = Callable[..., Awaitable[ChannelHub]]


@pytest.fixture
async def channel_hub_factory(db_settings: HubSettings) -> AsyncIterator[ChannelHubFactory]:
    stack = AsyncExitStack()

    async def make(channels: list[str] | None = None, **changes: Any) -> ChannelHub:
        slack, twilio = FakeSlack(), FakeTwilio()
        for fake in (slack, twilio):
            await stack.enter_async_context(running(fake))
        port = free_port()
        settings = db_settings.model_copy(
            update={
                "bounceback_port": port,
                "escalation": escalation(channels or ["slack", "sms"]),
                "slack_bot_token": SecretStr("xoxb-test-token"),
                "slack_signing_secret": SecretStr(SIGNING_SECRET),
                "slack_api_url": slack.url + "/api/",
                "twilio_account_sid": ACCOUNT_SID,
                "twilio_auth_token": SecretStr(AUTH_TOKEN),
                "twilio_from_number": FROM,
                "twilio_api_url": twilio.url,
                "sms_notifications_enabled": True,
                **changes,
            }
        )
        clock = FakeClock()
        hub = await stack.enter_async_context(running_hub(settings, clock=clock, port=port))
        return ChannelHub(hub, slack, twilio, clock)

    async with stack:
        yield make


@pytest.fixture
async def channel_hub(channel_hub_factory: ChannelHubFactory) -> ChannelHub:
    return await channel_hub_factory()
