"""Signed webhooks, attacked: tampered bodies, headers, URLs and timestamps, and replays.

Slack (v0 signature, 300 s window, each signature accepted once on any replica) and Twilio
(X-Twilio-Signature over the URL and every parameter) call the hub; the hub's own outbound
webhooks are checked with the receiver-side verification that docs/channels.md documents.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from twilio.request_validator import RequestValidator

from bounceback.api.auth.roles import Role
from bounceback.api.notify.config import WebhookTarget
from bounceback.api.testing import running_hub
from tests.api.notify.conftest import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    SIGNING_SECRET,
    ChannelHub,
    ChannelHubFactory,
    channel_hub,
    channel_hub_factory,
)
from tests.api.notify.fakes import _wait
from tests.api.notify.test_teams_and_webhooks import Receiver, receiver

pytestmark = pytest.mark.anyio
__all__ = [
    "channel_hub",
    "channel_hub_factory",
    "receiver",
]  # fixtures shared with tests/api/notify

COMMANDS = "/api/integrations/slack/commands"
INTERACTIONS = "/api/integrations/slack/interactions"
SMS = "/api/integrations/twilio/sms"
GATHER = "/api/integrations/twilio/voice/gather"
CHANNELS_DOC = Path(__file__).parents[3] / "docs" / "channels.md"


def slack_headers(body: str, timestamp: int, secret: str = SIGNING_SECRET) -> dict[str, str]:
    base = f"v0:{timestamp}:{body}".encode()
    return {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": str(timestamp),
        "X-Slack-Signature": "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest(),
    }


def command(text: str, user: str = "U0ANN") -> str:
    return urlencode({"command": "/bounceback", "text": text, "user_id": user})


def now(hub: ChannelHub) -> int:
    return int(hub.clock.now().timestamp())


async def slack(hub: ChannelHub, body: str, headers: dict[str, str]) -> httpx.Response:
    return await hub.hub.client.post(COMMANDS, content=body, headers=headers)


async def state(hub: ChannelHub, incident_id: int) -> str:
    found: str = (await hub.incident(incident_id))["state"]
    return found


# Slack


async def test_a_slack_body_changed_after_signing_is_refused(channel_hub: ChannelHub) -> None:
    hub = channel_hub
    incident_id = await hub.page()
    signed = slack_headers(command(f"ack {incident_id + 1}"), now(hub))
    response = await slack(hub, command(f"ack {incident_id}"), signed)
    assert response.status_code == 401
    assert await state(hub, incident_id) == "triggered"


async def test_a_slack_timestamp_changed_after_signing_is_refused(channel_hub: ChannelHub) -> None:
    hub = channel_hub
    incident_id = await hub.page()
    body = command(f"ack {incident_id}")
    headers = {**slack_headers(body, now(hub) - 400), "X-Slack-Request-Timestamp": str(now(hub))}
    assert (await slack(hub, body, headers)).status_code == 401
    assert await state(hub, incident_id) == "triggered"


@pytest.mark.parametrize(
    ("offset", "status"), [(-301, 401), (-299, 200), (299, 200), (301, 401)], ids=str
)
async def test_slack_timestamps_count_only_within_300_seconds_either_way(
    channel_hub: ChannelHub, offset: int, status: int
) -> None:
    hub = channel_hub
    body = command("status")
    response = await slack(hub, body, slack_headers(body, now(hub) + offset))
    assert response.status_code == status, response.text


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Slack-Request-Timestamp": "soon"},
        {"X-Slack-Signature": "v1=" + "0" * 64},
        {"X-Slack-Signature": "v0=" + "0" * 64},
        {"X-Slack-Signature": ""},
    ],
    ids=["timestamp not a number", "another version", "wrong digest", "empty signature"],
)
async def test_malformed_slack_signatures_are_refused_not_errors(
    channel_hub: ChannelHub, headers: dict[str, str]
) -> None:
    hub = channel_hub
    body = command("status")
    response = await slack(hub, body, {**slack_headers(body, now(hub)), **headers})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"


async def test_a_replayed_slack_request_is_refused_until_and_after_its_window(
    channel_hub: ChannelHub,
) -> None:
    hub = channel_hub
    incident_id = await hub.page()
    body = command(f"ack {incident_id}")
    headers = slack_headers(body, now(hub))
    assert (await slack(hub, body, headers)).status_code == 200
    assert await state(hub, incident_id) == "acknowledged"
    resolve = f"/api/incidents/{incident_id}/resolve"
    resolved = await hub.hub.client.post(resolve, headers=hub.hub.auth(Role.OPERATOR))
    assert resolved.status_code == 200
    await hub.clock.advance(299)
    replay = await slack(hub, body, headers)
    assert replay.status_code == 401 and "replay" in replay.json()["error"]["message"]
    await hub.clock.advance(2)
    stale = await slack(hub, body, headers)
    assert stale.status_code == 401 and "300 s" in stale.json()["error"]["message"]
    assert await state(hub, incident_id) == "resolved"


async def test_a_slack_request_replayed_against_another_replica_is_refused(
    channel_hub: ChannelHub,
) -> None:
    first = channel_hub
    incident_id = await first.page()
    press = {
        "type": "block_actions",
        "user": {"id": "U0ANN"},
        "actions": [{"action_id": "acknowledge", "value": str(incident_id)}],
    }
    body = urlencode({"payload": json.dumps(press)})
    headers = slack_headers(body, now(first))
    accepted = await first.hub.client.post(INTERACTIONS, content=body, headers=headers)
    assert accepted.status_code == 200, accepted.text
    settings = first.hub.hub.settings  # another hub process on the same store
    async with running_hub(settings, clock=first.clock, create_credentials=False) as second:
        replayed = await second.client.post(INTERACTIONS, content=body, headers=headers)
    assert replayed.status_code == 401
    assert "replay" in replayed.json()["error"]["message"]


# Twilio


def twilio_signature(url: str, params: dict[str, str], token: str = AUTH_TOKEN) -> str:
    return str(RequestValidator(token).compute_signature(url, params))


def sms(body: str, sender: str = "+15550000001") -> dict[str, str]:
    return {
        "MessageSid": "SM" + "1" * 32,
        "AccountSid": ACCOUNT_SID,
        "From": sender,
        "To": "+15005550006",
        "Body": body,
    }


async def twilio(
    hub: ChannelHub, path: str, params: dict[str, str], signature: str
) -> httpx.Response:
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Twilio-Signature": signature,
    }
    return await hub.hub.client.post(path, content=urlencode(params), headers=headers)


@pytest.mark.parametrize(
    "tamper",
    [
        lambda p: {**p, "Body": "RES " + p["Body"].split()[1]},
        lambda p: {**p, "From": "+15550000002"},
        lambda p: {**p, "Extra": "added after signing"},
        lambda p: {k: v for k, v in p.items() if k != "MessageSid"},
    ],
    ids=["command changed", "sender changed", "parameter added", "parameter removed"],
)
async def test_a_twilio_sms_changed_after_signing_is_refused(
    channel_hub: ChannelHub, tamper: Callable[[dict[str, str]], dict[str, str]]
) -> None:
    hub = channel_hub
    incident_id = await hub.page()
    params = sms(f"ACK {incident_id}")
    signature = twilio_signature(hub.hub.url + SMS, params)
    response = await twilio(hub, SMS, tamper(params), signature)
    assert response.status_code == 403, response.text
    assert await state(hub, incident_id) == "triggered"


async def test_a_twilio_signature_for_another_url_is_refused(channel_hub: ChannelHub) -> None:
    hub = channel_hub
    incident_id = await hub.page()
    params = sms(f"ACK {incident_id}")
    elsewhere = twilio_signature("https://attacker.example/api/integrations/twilio/sms", params)
    assert (await twilio(hub, SMS, params, elsewhere)).status_code == 403
    assert await state(hub, incident_id) == "triggered"


async def test_a_twilio_key_press_with_a_changed_query_string_is_refused(
    channel_hub: ChannelHub,
) -> None:
    hub = channel_hub
    first = await hub.page("first incident")
    second = await hub.page("second incident")
    signed_for = f"{GATHER}?incident={first}&notification=1&person=ann"
    sent_to = f"{GATHER}?incident={second}&notification=1&person=ann"
    params = {"CallSid": "CA" + "2" * 32, "AccountSid": ACCOUNT_SID, "Digits": "2"}
    signature = twilio_signature(hub.hub.url + signed_for, params)
    assert (await twilio(hub, sent_to, params, signature)).status_code == 403
    assert (await state(hub, first), await state(hub, second)) == ("triggered", "triggered")
    accepted = await twilio(hub, signed_for, params, signature)
    assert accepted.status_code == 200
    assert await state(hub, first) == "resolved"


async def test_a_replayed_twilio_reply_changes_nothing_more(channel_hub: ChannelHub) -> None:
    """Twilio signs no timestamp, so a captured reply verifies again; what it asks is done
    once: acting again on an acknowledged incident only says so."""
    hub = channel_hub
    incident_id = await hub.page()
    params = sms(f"ACK {incident_id}")
    signature = twilio_signature(hub.hub.url + SMS, params)
    first = await twilio(hub, SMS, params, signature)
    assert "acknowledged by Ann" in first.text
    acknowledged = await hub.incident(incident_id)
    replay = await twilio(hub, SMS, params, signature)
    assert replay.status_code == 200
    assert "already acknowledged" in replay.text
    again = await hub.incident(incident_id)
    assert (again["state"], again["acknowledged_at"]) == (
        "acknowledged",
        acknowledged["acknowledged_at"],
    )


# Outbound webhooks: the receiver-side check as docs/channels.md prints it.


def documented_verify(now: Callable[[], float]) -> Callable[[bytes, str, bytes], bool]:
    text = CHANNELS_DOC.read_text()
    [code] = re.findall(r"To verify \(Python\):\n\n```python\n(.*?)```", text, re.S)
    namespace: dict[str, Any] = {}
    exec(compile(code, str(CHANNELS_DOC), "exec"), namespace)  # noqa: S102 - our own docs
    namespace["time"] = SimpleNamespace(time=now)
    verify: Callable[[bytes, str, bytes], bool] = namespace["verify"]
    return verify


async def test_the_documented_receiver_check_accepts_deliveries_and_refuses_tampering(
    channel_hub_factory: ChannelHubFactory,
    receiver: tuple[Receiver, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sink, url = receiver
    secret = b"whsec-receiver-side"
    monkeypatch.setenv("BOUNCEBACK_WEBHOOK_SECRET_TICKETS", secret.decode())
    target = WebhookTarget(name="tickets", url=f"{url}/hooks/bounceback")
    hub = await channel_hub_factory(channels=["webhook"], webhooks=(target,))
    await hub.page()
    await _wait(lambda: bool(sink.received))
    body, header = sink.raw[0], sink.received[0].headers["x-bounceback-signature"]
    sent_at = now(hub)
    verify = documented_verify(lambda: float(sent_at))
    t, v1 = (part.split("=", 1)[1] for part in header.split(","))

    assert verify(secret, header, body)
    assert not verify(b"another-secret", header, body)
    assert not verify(secret, header, body.replace(b'"page"', b'"test"'))
    assert not verify(secret, header, body + b" ")
    assert not verify(secret, f"t={int(t) + 1},v1={v1}", body)
    altered = v1[:-1] + ("1" if v1.endswith("0") else "0")
    assert not verify(secret, f"t={t},v1={altered}", body)
    # A delivery captured and replayed later than 5 minutes is refused; sooner, its
    # X-Bounceback-Delivery id (the same on every retry) is what receivers deduplicate on.
    assert documented_verify(lambda: float(sent_at + 300))(secret, header, body)
    assert not documented_verify(lambda: float(sent_at + 301))(secret, header, body)
    assert sink.received[0].headers["x-bounceback-delivery"].isdigit()


@pytest.mark.parametrize(
    "header", ["", "t=1", "v1=abc", "t=soon,v1=abc", "garbage", "t=1,v1", "t=1,v1=\u00e9"], ids=repr
)
def test_the_documented_receiver_check_refuses_malformed_headers_without_raising(
    header: str,
) -> None:
    verify = documented_verify(lambda: 1.0)
    assert verify(b"secret", header, b"{}") is False
