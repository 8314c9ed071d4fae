"""The hub the audit tests act on, and how a call is made against it and checked.

One hub (a fake clock, a loopback Slack) with people and a policy, a degradation rule, an agent
that declares an action and a breaker, critical incidents under escalation, a signed one-click
link; a :class:`Call` is sent with the credential or signature it names and its audit record is
looked up by the request id it carried.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import httpx
import sqlalchemy as sa
from pydantic import SecretStr
from twilio.request_validator import RequestValidator

from bounceback.api.auth.roles import Role
from bounceback.api.clock import FakeClock
from bounceback.api.degradation.config import DegradationConfig
from bounceback.api.escalation import links
from bounceback.api.escalation.config import EscalationConfig
from bounceback.api.settings import HubSettings
from bounceback.api.store.tables import audit_log
from bounceback.api.testing import RunningHub, running_hub
from tests.api.notify.fakes import FakeSlack, running

SIGNING_SECRET = "audit-signing-secret"
AUTH_TOKEN = "audit-twilio-token"
ANN_PHONE = "+15550000001"
AGENT = "web-1"
REPORT = {  # an agent declaring an action and a breaker
    "hostname": "web-1.example.net",
    "version": "0.1.0",
    "interval_seconds": 10,
    "self_healing_enabled": True,
    "actions": ["restart-nginx"],
    "breakers": [{"dependency": "postgres", "kind": "database", "state": "open"}],
    "events": [],
}


@dataclass(frozen=True)
class Call:
    """One request and the audit record it must leave. ``path`` and ``body`` may name the
    world's objects: {incident.<name>}, {deployment}, {link}."""

    path: str
    action: str
    body: Any = None
    auth: str = "admin"  # a role, "key:<kind>", "slack", "twilio" or "none"
    outcome: str = "ok"
    statuses: tuple[int, ...] = (200, 201, 202, 204)
    actor: str | None = None  # default: the credential's actor


@dataclass
class World:
    """The running hub and what the calls act on."""

    hub: RunningHub
    clock: FakeClock
    agent: dict[str, str]
    incidents: dict[str, int]
    slack: FakeSlack
    link: str = ""
    deployment: int = 0

    def fill(self, text: str) -> str:
        values: dict[str, object] = {f"incident.{k}": n for k, n in self.incidents.items()}
        values |= {f"key.{kind}": key for kind, key in self.hub.keys.items()}
        values |= {"link": self.link, "deployment": self.deployment}
        for name, value in values.items():
            text = text.replace("{" + name + "}", str(value))
        return text

    def actor(self, call: Call) -> str:
        if call.actor is not None:
            return call.actor
        if call.auth.startswith("key:"):
            return f"integration:test-{call.auth.removeprefix('key:')}"
        if call.auth in ("slack", "twilio"):
            return "person:ann"
        if call.auth == "agent":
            return f"token:{AGENT}"
        return f"token:test-{call.auth}"


async def settle(hub: RunningHub) -> None:
    """Let the hub's scheduler run everything due now (escalations start, pages go out)."""
    while True:
        started = await hub.hub.scheduler.run_once()
        await hub.hub.scheduler.drain()
        if started == 0:
            return


def escalation() -> EscalationConfig:
    people = [
        {
            "id": "ann",
            "name": "Ann",
            "channels": ["slack"],
            "slack_user_id": "U0ANN",
            "phone": ANN_PHONE,
        },
        {"id": "bob", "name": "Bob", "channels": ["slack"], "slack_user_id": "U0BOB"},
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


async def build_world(stack: AsyncExitStack, settings: HubSettings) -> World:
    slack = FakeSlack()
    await stack.enter_async_context(running(slack))
    values = {
        **settings.model_dump(),
        "escalation": escalation(),
        "degradation": DegradationConfig.model_validate(
            {
                "rules": [
                    {
                        "id": "read-only",
                        "level": "minimal",
                        "actions": [
                            {"type": "reduce_functionality", "name": "search", "value": "basic"}
                        ],
                    }
                ]
            }
        ),
        "slack_bot_token": SecretStr("xoxb-audit"),
        "slack_signing_secret": SecretStr(SIGNING_SECRET),
        "slack_api_url": slack.url + "/api/",
        "twilio_auth_token": SecretStr(AUTH_TOKEN),
    }
    clock = FakeClock()
    hub = await stack.enter_async_context(
        running_hub(HubSettings.model_validate(values), clock=clock)
    )
    token = await hub.hub.credentials.create_token(AGENT, Role.AGENT)
    agent = {"Authorization": f"Bearer {token}"}
    registered = await hub.client.post(f"/api/agents/{AGENT}/reports", json=REPORT, headers=agent)
    assert registered.status_code == 200, registered.text
    incidents = {}
    for name in ("api", "escalate", "escalation", "slack", "phone", "link", "web"):
        alert = {
            "source": "t",
            "summary": f"{name} incident",
            "fingerprint": name,
            "severity": "critical",
            "service": name,
        }
        created = await hub.client.post("/api/alerts", json=alert, headers=hub.auth(Role.OPERATOR))
        assert created.status_code == 202, created.text
        incidents[name] = created.json()["incident_id"]
    await settle(hub)
    link = links.sign(
        await hub.hub.dispatcher.link_secret(),
        incidents["link"],
        links.LinkAction.ACKNOWLEDGE,
        "ann",
        now=clock.now(),
        ttl=timedelta(hours=1),
    )
    return World(hub, clock, agent, incidents, slack, link=link)


def headers_for(world: World, call: Call, path: str, body: Any) -> dict[str, str]:
    hub = world.hub
    if call.auth == "agent":
        return world.agent
    if call.auth.startswith("key:"):
        return hub.key(call.auth.removeprefix("key:"))
    if call.auth == "slack":
        timestamp = str(int(world.clock.now().timestamp()))
        base = f"v0:{timestamp}:{urlencode(body)}".encode()
        mac = hmac.new(SIGNING_SECRET.encode(), base, hashlib.sha256).hexdigest()
        return {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Slack-Request-Timestamp": timestamp,
            "X-Slack-Signature": f"v0={mac}",
        }
    if call.auth == "twilio":
        url = hub.hub.settings.public_url + path
        signature = RequestValidator(AUTH_TOKEN).compute_signature(url, body)
        return {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": signature,
        }
    if call.auth == "none":
        return {}
    return hub.auth(Role(call.auth))


async def send(world: World, call: Call, request_id: str, method: str) -> httpx.Response:
    path = world.fill(call.path)
    body: Any = call.body
    if call.auth in ("slack", "twilio"):  # form fields
        body = {key: world.fill(value) for key, value in body.items()}
    elif body is not None:
        body = json.loads(world.fill(json.dumps(body)))
    headers = {**headers_for(world, call, path, body), "X-Request-ID": request_id}
    if call.auth in ("slack", "twilio"):
        content = urlencode(body)
        return await world.hub.client.request(method, path, content=content, headers=headers)
    return await world.hub.client.request(method, path, json=body, headers=headers)


async def records(world: World, request_id: str) -> list[dict[str, Any]]:
    async with world.hub.hub.db.read() as conn:
        rows = await conn.execute(sa.select(audit_log).where(audit_log.c.request_id == request_id))
        return [dict(row._mapping) for row in rows]


async def audited(world: World, method: str, call: Call) -> str | None:
    """What is wrong with ``call``'s answer or audit record, if anything."""
    request_id = uuid.uuid4().hex
    response = await send(world, call, request_id, method)
    await world.clock.advance(1)  # Slack signatures differ; cooldowns do not collide
    if response.status_code not in call.statuses:
        return f"answered {response.status_code}: {response.text[:300]}"
    if call.path.endswith("/deployment/track"):
        world.deployment = response.json()["id"]
    found = [(r["actor"], r["action"], r["outcome"]) for r in await records(world, request_id)]
    expected = (world.actor(call), call.action, call.outcome)
    if expected not in found:
        return f"expected an audit record {expected}, found {found}"
    return None
