"""No configured secret ever reaches the logs.

A real ``bounceback-hub serve`` process runs with every secret it can be given set (tokens and
integration keys, the Slack bot token and signing secret, the Twilio auth token, the Teams
webhook URL, the SMTP password, an outbound webhook's signing secret, the link secret, the
GitHub token, the PostgreSQL password), at DEBUG level with JSON logs (which also carry the
records' extra fields) and the access log on. Requests then use every secret, successfully and
not, pages go out through every channel to loopback partners that accept and then refuse them,
and the whole output, ``config show`` and what the API shows (timelines, audit records) are
searched for each secret and for the one-click link tokens derived from the link secret.
"""

from __future__ import annotations

import asyncio
import base64
import email.message
import email.policy
import hashlib
import hmac
import json
import re
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import AsyncExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx
import pytest
import tomli_w
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from twilio.request_validator import RequestValidator

from bounceback.api.auth.roles import Role
from bounceback.api.auth.store import INTEGRATION_KINDS, Credentials
from bounceback.api.clock import SystemClock
from bounceback.api.settings import HubSettings
from bounceback.api.store.db import Database
from bounceback.api.store.migrate import migrate
from bounceback.api.testing import free_port, hub_environment, serve, start_hub_process
from tests.api.notify.fakes import FakeSlack, FakeTwilio, running

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

GUARD_S = 20
ACCOUNT_SID = "AC" + "1" * 32
FROM = "+15005550006"
PEOPLE: dict[str, dict[str, Any]] = {
    "ann": {"channels": ["email"], "email": "ann@example.com"},
    "bob": {"channels": ["slack"], "slack_user_id": "U0BOB"},
    "cyd": {"channels": ["sms"], "phone": "+15550000003"},
    "dee": {"channels": ["teams"]},
    "eve": {"channels": ["webhook"]},
}


def secret(prefix: str = "") -> str:
    return prefix + secrets.token_hex(16)


@dataclass
class Switch:
    """A loopback receiver (Teams, outbound webhooks) that answers 200, or ``status`` when set."""

    received: list[tuple[str, bytes, dict[str, str]]] = field(default_factory=list)
    status: int = 200

    async def _post(self, request: Request) -> Response:
        self.received.append((request.url.path, await request.body(), dict(request.headers)))
        return PlainTextResponse("1", status_code=self.status)

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/{path:path}", self._post, methods=["POST"])])


@dataclass
class Mailbox:
    """A real SMTP server (aiosmtpd) that wants a login; ``refuse`` turns logins away."""

    password: str
    messages: list[email.message.EmailMessage] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)
    refuse: bool = False

    def authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        assert isinstance(data, LoginPassword)
        self.logins.append(data.password.decode())
        ok = not self.refuse and data.password.decode() == self.password
        return AuthResult(success=ok, handled=False)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        found = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(found, email.message.EmailMessage)
        self.messages.append(found)
        return "250 Message accepted"


@contextmanager
def smtp_server(box: Mailbox) -> Iterator[int]:
    controller = Controller(
        box,
        hostname="127.0.0.1",
        port=free_port(),
        authenticator=box.authenticate,
        auth_require_tls=False,
    )
    controller.start()
    try:
        yield controller.port
    finally:
        controller.stop()


async def until(check: Callable[[], bool], what: str) -> None:
    try:
        async with asyncio.timeout(GUARD_S):
            while not check():  # noqa: ASYNC110 - filled by other tasks and threads
                await asyncio.sleep(0.02)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


@dataclass
class Secrets:
    """Every secret the hub was given, by name, and the credentials made in its store."""

    values: dict[str, str]
    tokens: dict[Role, str]
    keys: dict[str, str]

    def all(self) -> dict[str, str]:
        found = dict(self.values)
        found |= {f"{role.value} token": token for role, token in self.tokens.items()}
        found |= {f"{kind} integration key": key for kind, key in self.keys.items()}
        return found


async def make_credentials(settings: HubSettings) -> tuple[dict[Role, str], dict[str, str]]:
    db = Database(settings.sqlalchemy_url, schema=settings.bounceback_database_schema)
    try:
        await migrate(db)
        store = Credentials(db, SystemClock())
        tokens = {role: await store.create_token(f"t-{role.value}", role) for role in Role}
        keys = {
            kind: await store.create_integration(f"k-{kind}", kind) for kind in INTEGRATION_KINDS
        }
    finally:
        await db.dispose()
    return tokens, keys


def hub_toml(path: Path, smtp_port: int, webhook_url: str) -> Path:
    people = [{"id": pid, "name": pid.title(), **fields} for pid, fields in PEOPLE.items()]
    config = {
        "escalation": {
            "smtp": {
                "host": "127.0.0.1",
                "port": smtp_port,
                "security": "none",
                "username": "bounceback",
                "from_address": "bounceback@example.com",
            },
            "people": people,
            "policies": [
                {
                    "id": "default",
                    "name": "Default",
                    "levels": [{"name": "L1", "targets": [f"person:{p}" for p in PEOPLE]}],
                }
            ],
        },
        "webhooks": [{"name": "tickets", "url": webhook_url}],
        "deployments": {
            "oidc": {"issuer": f"http://127.0.0.1:{free_port()}"},
            "targets": {"web": {"trusts": [{"repository_id": 1, "repository": "octo/web"}]}},
        },
    }
    path.write_text(tomli_w.dumps(config))
    return path


def password_url(url: str, password: str) -> str:
    parts = urlsplit(url)
    assert parts.username and not parts.password, "expected user@host in the test database URL"
    netloc = parts.netloc.replace(f"{parts.username}@", f"{parts.username}:{password}@", 1)
    return parts._replace(netloc=netloc).geturl()


def slack_signed(body: str, signing_secret: str) -> dict[str, str]:
    timestamp = str(int(time.time()))
    base = f"v0:{timestamp}:{body}".encode()
    mac = hmac.new(signing_secret.encode(), base, hashlib.sha256).hexdigest()
    return {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": f"v0={mac}",
    }


def twilio_signed(url: str, params: dict[str, str], token: str) -> dict[str, str]:
    return {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Twilio-Signature": RequestValidator(token).compute_signature(url, params),
    }


def fake_jwt() -> str:
    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    header = part({"alg": "RS256", "typ": "JWT", "kid": "k1"})
    return f"{header}.{part({'sub': 'repo:octo/web'})}.{secret()}"


@dataclass
class Rig:
    url: str
    client: httpx.AsyncClient
    secrets: Secrets
    slack: FakeSlack
    twilio: FakeTwilio
    mailbox: Mailbox
    teams: Switch
    webhook: Switch

    def mail_about(self, summary: str) -> email.message.EmailMessage | None:
        return next((m for m in self.mailbox.messages if summary in str(m["Subject"])), None)

    def bearer(self, credential: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {credential}"}

    async def alert(self, summary: str) -> int:
        body = {
            "source": "test",
            "summary": summary,
            "severity": "critical",
            "fingerprint": summary,
        }
        response = await self.client.post(
            "/api/alerts", json=body, headers=self.bearer(self.secrets.keys["generic"])
        )
        assert response.status_code == 202, response.text
        incident_id: int = response.json()["incident_id"]
        return incident_id

    async def timeline(self, incident_id: int) -> list[str]:
        response = await self.client.get(
            f"/api/incidents/{incident_id}", headers=self.bearer(self.secrets.tokens[Role.VIEWER])
        )
        return [event["message"] for event in response.json()["timeline"]]

    async def wait_timeline(self, incident_id: int, *texts: str) -> None:
        lines: list[str] = []

        def seen() -> bool:
            return all(any(text in line for line in lines) for text in texts)

        try:
            async with asyncio.timeout(GUARD_S):
                while not seen():
                    lines = await self.timeline(incident_id)
                    await asyncio.sleep(0.05)
        except TimeoutError:
            raise AssertionError(f"timeline lacks {texts}: {lines}") from None


async def use_every_secret(rig: Rig) -> list[str]:
    """Requests and pages that use each secret, successfully and not; the link tokens seen."""
    tokens, keys, values = rig.secrets.tokens, rig.secrets.keys, rig.secrets.values
    for role, token in tokens.items():
        allowed = role in (Role.VIEWER, Role.OPERATOR, Role.ADMIN)
        response = await rig.client.get("/api/incidents", headers=rig.bearer(token))
        assert response.status_code == (200 if allowed else 403), response.text
        near_miss = await rig.client.get("/api/incidents", headers=rig.bearer(token + "0"))
        assert near_miss.status_code == 401
        basic = base64.b64encode(f"user:{token}".encode()).decode()
        as_basic = await rig.client.get(
            "/api/incidents", headers={"Authorization": f"Basic {basic}"}
        )
        assert as_basic.status_code == 401
    wrong_kind = await rig.client.post(
        "/api/alerts", json={"summary": "x"}, headers=rig.bearer(keys["alertmanager"])
    )
    assert wrong_kind.status_code == 403
    event = {
        "event_action": "trigger",
        "payload": {"summary": "s", "source": "h", "severity": "info"},
    }
    pagerduty = "/api/integrations/pagerduty/v2/enqueue"
    accepted = await rig.client.post(pagerduty, json={**event, "routing_key": keys["pagerduty"]})
    assert accepted.status_code == 202, accepted.text
    refused = await rig.client.post(
        pagerduty, json={**event, "routing_key": keys["pagerduty"][:-1]}
    )
    assert refused.status_code == 401
    oidc = await rig.client.post(
        "/api/auto-recovery/deployment/gate", json={"target": "web"}, headers=rig.bearer(fake_jwt())
    )
    assert oidc.status_code in (401, 503), oidc.text

    # A page to everyone, through every channel; each partner accepts.
    first = await rig.alert("checkout is down")
    await until(lambda: rig.mail_about("checkout is down") is not None, "the email")
    await until(lambda: bool(rig.slack.of("chat.postMessage")), "the Slack message")
    await until(lambda: bool(rig.twilio.messages), "the SMS")
    await until(lambda: bool(rig.teams.received and rig.webhook.received), "the hooks")
    assert set(rig.mailbox.logins) == {values["BOUNCEBACK_SMTP_PASSWORD"]}
    slack_auth = rig.slack.of("chat.postMessage")[0].headers["authorization"]
    assert slack_auth == f"Bearer {values['SLACK_BOT_TOKEN']}"
    assert rig.teams.received[0][0] == "/" + values["TEAMS_WEBHOOK_URL"]

    # Acting through each partner: signed (accepted) and badly signed (refused).
    body = urlencode({"command": "/bounceback", "text": f"ack {first}", "user_id": "U0BOB"})
    signing = values["SLACK_SIGNING_SECRET"]
    commands = "/api/integrations/slack/commands"
    assert (
        await rig.client.post(commands, content=body, headers=slack_signed(body, signing))
    ).status_code == 200
    forged = slack_signed(body, signing + "0")
    assert (await rig.client.post(commands, content=body, headers=forged)).status_code == 401
    sms = {
        "From": PEOPLE["cyd"]["phone"],
        "To": FROM,
        "Body": f"RES {first}",
        "AccountSid": ACCOUNT_SID,
    }
    path = "/api/integrations/twilio/sms"
    token = values["TWILIO_AUTH_TOKEN"]
    forged_sms = twilio_signed(rig.url + path, sms, token + "0")
    assert (
        await rig.client.post(path, content=urlencode(sms), headers=forged_sms)
    ).status_code == 403
    signed_sms = twilio_signed(rig.url + path, sms, token)
    assert (
        await rig.client.post(path, content=urlencode(sms), headers=signed_sms)
    ).status_code == 200

    # The one-click links in the email: opened (GET) and used (POST).
    mail = rig.mail_about("checkout is down")
    assert mail is not None
    text = mail.get_body(("plain",))
    assert text is not None
    links = re.findall(r"/api/escalation/links/([A-Za-z0-9_.-]+)", text.get_content())
    assert len(links) == 2, text.get_content()
    for link in links:
        assert (await rig.client.get(f"/api/escalation/links/{link}")).status_code == 200
    assert (await rig.client.post(f"/api/escalation/links/{links[0]}")).status_code in (200, 409)

    # A second page while every partner refuses.
    for _ in range(20):  # whatever else is still being posted (thread replies, updates)
        rig.slack.fail("chat.postMessage", "invalid_auth")
        rig.twilio.errors.append((401, 20003))
    rig.mailbox.refuse = True
    rig.teams.status = rig.webhook.status = 403
    second = await rig.alert("payments are down")
    await rig.wait_timeline(
        second,
        "page to ann by email: failed",
        "page to bob by slack: failed",
        "page to cyd by sms: failed",
        "page to dee by teams: failed",
        "page to eve by webhook: failed",
    )
    return links


def scan(text: str, found: dict[str, str]) -> list[str]:
    """Each secret in ``text``, with the line it is on."""
    leaks = []
    for name, value in found.items():
        at = text.find(value)
        if at >= 0:
            line = text[text.rfind("\n", 0, at) + 1 : text.find("\n", at)]
            leaks.append(f"{name} in: {line[:300]}")
    return leaks


async def test_no_secret_reaches_the_logs_the_api_or_config_show(
    db_settings: HubSettings, tmp_path: Path
) -> None:
    values = {
        "SLACK_BOT_TOKEN": secret("xoxb-"),
        "SLACK_SIGNING_SECRET": secret(),
        "TWILIO_AUTH_TOKEN": secret(),
        "BOUNCEBACK_SMTP_PASSWORD": secret(),
        "BOUNCEBACK_WEBHOOK_SECRET_TICKETS": secret(),
        "BOUNCEBACK_LINK_SECRET": secret(),
        "BOUNCEBACK_GITHUB_TOKEN": secret("ghp_"),
    }
    tokens, keys = await make_credentials(db_settings)
    port = free_port()
    hub_url = f"http://127.0.0.1:{port}"
    log = tmp_path / "hub.log"
    async with AsyncExitStack() as stack:
        slack, twilio = FakeSlack(), FakeTwilio()
        mailbox = Mailbox(values["BOUNCEBACK_SMTP_PASSWORD"])
        teams, webhook = Switch(), Switch()
        await stack.enter_async_context(running(slack))
        await stack.enter_async_context(running(twilio))
        smtp_port = stack.enter_context(smtp_server(mailbox))
        teams_port = await stack.enter_async_context(serve(teams.app()))
        webhook_port = await stack.enter_async_context(serve(webhook.app()))
        teams_path = secret("webhookb2-")
        values["TEAMS_WEBHOOK_URL"] = f"http://127.0.0.1:{teams_port}/{teams_path}"
        env = {
            **values,
            "BOUNCEBACK_CONFIG": str(
                hub_toml(tmp_path / "hub.toml", smtp_port, f"http://127.0.0.1:{webhook_port}/in")
            ),
            "BOUNCEBACK_LOG_FORMAT": "json",
            "BOUNCEBACK_LOG_LEVEL": "DEBUG",
            "BOUNCEBACK_ACCESS_LOG": "true",
            "BOUNCEBACK_PUBLIC_URL": hub_url,
            "SLACK_API_URL": slack.url + "/api/",
            "TWILIO_API_URL": twilio.url,
            "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
            "TWILIO_FROM_NUMBER": FROM,
            "SMS_NOTIFICATIONS_ENABLED": "true",
        }
        scanned = dict(values, TEAMS_WEBHOOK_URL=teams_path)
        if db_settings.database_url is not None:
            password = secret()
            url = db_settings.database_url.get_secret_value()
            env["DATABASE_URL"] = password_url(url, password)
            scanned["the database password"] = password
        hub = await start_hub_process(db_settings, port, log, **env)
        try:
            async with httpx.AsyncClient(base_url=hub_url, timeout=10) as client:
                rig = Rig(
                    hub_url,
                    client,
                    Secrets(scanned, tokens, keys),
                    slack,
                    twilio,
                    mailbox,
                    teams,
                    webhook,
                )
                links = await use_every_secret(rig)
                admin = rig.bearer(tokens[Role.ADMIN])
                shown = [
                    (await client.get(f"/api/incidents/{n}", headers=admin)).text for n in (1, 2, 3)
                ]
                shown.append(
                    (await client.get("/api/auto-recovery/audit?limit=500", headers=admin)).text
                )
        finally:
            hub.send_signal(signal.SIGTERM)
            await asyncio.to_thread(hub.wait, GUARD_S)
    config_show = subprocess.run(  # noqa: ASYNC221 - a short CLI run after the hub stopped
        [sys.executable, "-c", "from bounceback.api.cli import main; main()", "config", "show"],
        env=hub_environment(db_settings, **env),
        capture_output=True,
        text=True,
        check=True,
    )
    output = log.read_text()
    # The run was real: the access log and the partners' traffic are in it.
    assert '"logger": "bounceback.access"' in output
    assert "POST /api/alerts 202" in output
    assert "/api/escalation/links/" in output
    everything = rig.secrets.all() | {f"link token {n}": link for n, link in enumerate(links)}
    leaks = scan(output, everything)
    leaks += [f"API: {leak}" for leak in scan("\n".join(shown), everything)]
    leaks += [f"config show: {leak}" for leak in scan(config_show.stdout, everything)]
    assert not leaks, "\n".join(leaks)
