"""Teams incoming webhooks and signed outbound webhooks, against a loopback receiver."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from bounceback.api.notify.config import WebhookTarget
from bounceback.api.testing import serve
from tests.api.notify.conftest import ChannelHubFactory
from tests.api.notify.fakes import Call, _wait

pytestmark = pytest.mark.anyio
SECRET = "whsec-test"


class Receiver:
    """Answers like a Teams incoming webhook ("1") and like any webhook receiver (200)."""

    def __init__(self) -> None:
        self.received: list[Call] = []
        self.raw: list[bytes] = []

    async def _post(self, request: Request) -> Response:
        raw = await request.body()
        self.raw.append(raw)
        self.received.append(Call(request.url.path, json.loads(raw), dict(request.headers)))
        return PlainTextResponse("1")

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/{path:path}", self._post, methods=["POST"])])


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[Receiver, str]]:
    found = Receiver()
    async with serve(found.app()) as port:
        yield found, f"http://127.0.0.1:{port}"


async def test_teams_gets_an_adaptive_card_whose_signed_link_acknowledges(
    channel_hub_factory: ChannelHubFactory, receiver: tuple[Receiver, str]
) -> None:
    sink, url = receiver
    hub = await channel_hub_factory(
        channels=["teams"], teams_webhook_url=SecretStr(f"{url}/webhookb2/abc")
    )
    incident_id = await hub.page()
    await _wait(lambda: bool(sink.received))
    posted = sink.received[0]
    assert posted.method == "/webhookb2/abc"
    [attachment] = posted.body["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    content: dict[str, Any] = attachment["content"]
    assert content["type"] == "AdaptiveCard"
    assert content["body"][0]["text"] == f"[CRITICAL] #{incident_id} checkout is down"
    links = {a["title"]: a["url"] for a in content["actions"]}
    assert set(links) == {"Acknowledge", "Resolve", "Open incident"}
    path = links["Acknowledge"].removeprefix(hub.hub.url)
    assert path.startswith("/api/escalation/links/")
    assert (await hub.hub.client.post(path)).status_code == 200
    incident = await hub.incident(incident_id)
    assert (incident["state"], incident["acknowledged_by"]) == ("acknowledged", "person:ann")


async def test_outbound_webhooks_are_signed_so_receivers_can_verify_them(
    channel_hub_factory: ChannelHubFactory,
    receiver: tuple[Receiver, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sink, url = receiver
    monkeypatch.setenv("BOUNCEBACK_WEBHOOK_SECRET_TICKETS", SECRET)
    target = WebhookTarget(name="tickets", url=f"{url}/hooks/bounceback")
    hub = await channel_hub_factory(channels=["webhook"], webhooks=(target,))
    incident_id = await hub.page()
    await _wait(lambda: bool(sink.received))
    delivery = sink.received[0]
    assert delivery.body["event"] == "page"
    assert delivery.body["incident"]["id"] == incident_id
    assert delivery.body["person"] == {"id": "ann", "name": "Ann"}
    fields = dict(
        part.split("=", 1) for part in delivery.headers["x-bounceback-signature"].split(",")
    )
    assert int(fields["t"]) == int(hub.clock.now().timestamp())
    expected = hmac.new(
        SECRET.encode(), fields["t"].encode() + b"." + sink.raw[0], hashlib.sha256
    ).hexdigest()
    assert hmac.compare_digest(fields["v1"], expected)
    assert delivery.headers["x-bounceback-delivery"].isdigit()
