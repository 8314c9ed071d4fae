"""The email channel against a real SMTP server, and its signed one-click links."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest

from bounceback.api.auth.roles import Role
from bounceback.api.escalation import links
from bounceback.api.settings import HubSettings
from bounceback.api.testing import RunningHub, free_port, running_hub
from tests.api.escalation.conftest import MailSink, config

pytestmark = pytest.mark.anyio


def mail_settings(db_settings: HubSettings, smtp_port: int, port: int) -> HubSettings:
    smtp = {"host": "127.0.0.1", "port": smtp_port, "security": "none"}
    return db_settings.model_copy(update={"bounceback_port": port, "escalation": config(smtp=smtp)})


@pytest.fixture
async def mail_hub(
    db_settings: HubSettings, smtp: tuple[MailSink, int]
) -> AsyncIterator[tuple[RunningHub, MailSink]]:
    sink, smtp_port = smtp
    port = free_port()
    async with running_hub(mail_settings(db_settings, smtp_port, port), port=port) as hub:
        yield hub, sink


async def page(hub: RunningHub, summary: str = "checkout is down") -> int:
    body = {"source": "test", "summary": summary, "severity": "critical", "fingerprint": summary}
    response = await hub.client.post("/api/alerts", json=body, headers=hub.auth(Role.OPERATOR))
    assert response.status_code == 202, response.text
    incident_id: int = response.json()["incident_id"]
    return incident_id


def link(text: str, verb: str) -> str:
    found = re.search(rf"^{verb}: (\S+?)\r?$", text, re.MULTILINE)
    assert found, text
    return found.group(1)


def bodies(message: Any) -> tuple[str, str]:
    return (
        message.get_body(preferencelist=("plain",)).get_content(),
        message.get_body(preferencelist=("html",)).get_content(),
    )


async def test_a_page_arrives_by_smtp_with_text_html_and_a_link_that_acknowledges_once(
    mail_hub: tuple[RunningHub, MailSink],
) -> None:
    hub, sink = mail_hub
    incident_id = await page(hub)
    [mail] = await sink.wait_for(1)
    assert mail["To"] == "ann@example.com"
    assert mail["Subject"] == f"[CRITICAL] #{incident_id} checkout is down"
    text, html = bodies(mail)
    acknowledge = link(text, "Acknowledge")
    assert acknowledge in html.replace("&amp;", "&")

    path = acknowledge.removeprefix(hub.url)
    confirm = await hub.client.get(path)  # what a mail scanner does: nothing happens
    assert confirm.status_code == 200 and "<form method='post'>" in confirm.text
    incident = (
        await hub.client.get(f"/api/incidents/{incident_id}", headers=hub.auth(Role.VIEWER))
    ).json()
    assert incident["state"] == "triggered"

    acted = await hub.client.post(path)
    assert acted.status_code == 200, acted.text
    again = await hub.client.post(path)
    assert again.status_code == 409 and "works once" in again.text

    detail = await hub.client.post(
        f"/api/auto-recovery/escalation/{incident_id}/acknowledge", headers=hub.auth(Role.OPERATOR)
    )
    assert detail.status_code == 409  # already acknowledged, by ann through the email link
    escalation = (
        await hub.client.get("/api/auto-recovery/escalation/active", headers=hub.auth(Role.VIEWER))
    ).json()
    assert escalation["items"] == []
    incident = (
        await hub.client.get(f"/api/incidents/{incident_id}", headers=hub.auth(Role.VIEWER))
    ).json()
    assert (incident["state"], incident["acknowledged_by"]) == ("acknowledged", "person:ann")
    assert any("via email" in e["message"] for e in incident["timeline"])


async def test_the_resolve_link_resolves_and_the_paged_person_is_told(
    mail_hub: tuple[RunningHub, MailSink],
) -> None:
    hub, sink = mail_hub
    await page(hub)
    [mail] = await sink.wait_for(1)
    path = link(bodies(mail)[0], "Resolve").removeprefix(hub.url)
    assert (await hub.client.post(path)).status_code == 200
    messages = await sink.wait_for(2)
    assert messages[1]["Subject"].startswith("[RESOLVED]")


async def test_tampered_and_expired_links_do_nothing(mail_hub: tuple[RunningHub, MailSink]) -> None:
    hub, sink = mail_hub
    incident_id = await page(hub)
    [mail] = await sink.wait_for(1)
    path = link(bodies(mail)[0], "Acknowledge").removeprefix(hub.url)
    tampered = path[:-3] + ("AAA" if not path.endswith("AAA") else "BBB")
    assert (await hub.client.post(tampered)).status_code == 403
    secret = await hub.hub.dispatcher.link_secret()
    now = hub.hub.clock.now()
    expired = links.sign(
        secret,
        incident_id,
        links.LinkAction.ACKNOWLEDGE,
        "ann",
        now=now - timedelta(days=2),
        ttl=timedelta(days=1),
    )
    response = await hub.client.post(f"/api/escalation/links/{expired}")
    assert response.status_code == 403 and "expired" in response.text
    incident = (
        await hub.client.get(f"/api/incidents/{incident_id}", headers=hub.auth(Role.VIEWER))
    ).json()
    assert incident["state"] == "triggered"


async def test_the_channel_test_endpoint_sends_a_test_mail_and_reports_refusals(
    mail_hub: tuple[RunningHub, MailSink],
) -> None:
    hub, sink = mail_hub
    url = "/api/auto-recovery/escalation/channels/email/test"
    response = await hub.client.post(url, json={"person": "bob"}, headers=hub.auth(Role.OPERATOR))
    assert response.status_code == 200, response.text
    [mail] = await sink.wait_for(1)
    assert (mail["To"], mail["Subject"].startswith("[TEST]")) == ("bob@example.com", True)
    sink.refuse.add("nobody@example.com")
    refused = await hub.client.post(
        url, json={"address": "nobody@example.com"}, headers=hub.auth(Role.OPERATOR)
    )
    assert refused.status_code == 502
    assert refused.json()["error"]["details"] == {"permanent": True}
    unknown = await hub.client.post(
        "/api/auto-recovery/escalation/channels/pager/test",
        json={"address": "x@y.z"},
        headers=hub.auth(Role.OPERATOR),
    )
    assert unknown.status_code == 404
    bad = await hub.client.post(url, json={}, headers=hub.auth(Role.OPERATOR))
    assert bad.status_code == 422
