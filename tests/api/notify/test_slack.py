"""Slack end to end: a loopback Slack Web API, signed interactions and slash commands."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest

from bounceback.api.auth.roles import Role
from bounceback.api.notify import slack_blocks
from bounceback.api.notify.slack import slack_error
from tests.api.notify.conftest import ChannelHub, ChannelHubFactory
from tests.api.notify.fakes import FakeSlack

pytestmark = pytest.mark.anyio


def first_post(slack: FakeSlack) -> dict[str, object]:
    return next(c.body for c in slack.of("chat.postMessage") if "thread_ts" not in c.body)


async def test_a_page_posts_blocks_and_a_signed_button_acknowledges_and_updates_the_message(
    channel_hub: ChannelHub,
) -> None:
    hub, slack = channel_hub, channel_hub.slack
    incident_id = await hub.page()
    await slack.wait_for(lambda s: bool(s.of("chat.postMessage")))
    call = slack.of("chat.postMessage")[0]
    assert call.headers["authorization"] == "Bearer xoxb-test-token"
    body = call.body
    assert body["channel"] == "U0ANN"
    blocks = body["blocks"]
    assert blocks[0]["text"]["text"] == f"[CRITICAL] #{incident_id} checkout is down"
    [actions] = [b for b in blocks if b["type"] == "actions"]
    assert [(e["action_id"], e["value"]) for e in actions["elements"]] == [
        (action, str(incident_id))
        for action in ("acknowledge", "resolve", "escalate_now", "silence_1h")
    ]

    response = await hub.press("acknowledge", incident_id)
    assert response.status_code == 200, response.text
    assert "acknowledged by Ann" in response.json()["text"]
    incident = await hub.incident(incident_id)
    assert (incident["state"], incident["acknowledged_by"]) == ("acknowledged", "person:ann")
    await hub.wait_for_timeline(incident_id, "acknowledged by person:ann via slack")

    await slack.wait_for(lambda s: bool(s.of("chat.update")))
    update = slack.of("chat.update")[0].body
    assert (update["channel"], update["ts"]) == ("D0ANN", "1767225600.000001")
    [actions] = [b for b in update["blocks"] if b["type"] == "actions"]
    assert [e["action_id"] for e in actions["elements"]] == ["resolve", "silence_1h"]
    await slack.wait_for(lambda s: any("thread_ts" in c.body for c in s.of("chat.postMessage")))
    reply = next(c.body for c in slack.of("chat.postMessage") if "thread_ts" in c.body)
    assert reply["thread_ts"] == "1767225600.000001"
    assert reply["text"] == "Acknowledged by Ann via slack."


async def test_an_acknowledgement_through_the_api_updates_the_slack_message_too(
    channel_hub: ChannelHub,
) -> None:
    hub, slack = channel_hub, channel_hub.slack
    incident_id = await hub.page()
    # The page is out and its message id recorded: what the Slack update finds the message by.
    await hub.wait_for_timeline(incident_id, "page to ann by slack: sent")

    response = await hub.hub.client.post(
        f"/api/incidents/{incident_id}/acknowledge", headers=hub.hub.auth(Role.OPERATOR)
    )
    assert response.status_code == 200, response.text

    await slack.wait_for(lambda s: bool(s.of("chat.update")))
    update = slack.of("chat.update")[0].body
    [actions] = [b for b in update["blocks"] if b["type"] == "actions"]
    assert [e["action_id"] for e in actions["elements"]] == ["resolve", "silence_1h"]
    await slack.wait_for(lambda s: any("thread_ts" in c.body for c in s.of("chat.postMessage")))
    reply = next(c.body for c in slack.of("chat.postMessage") if "thread_ts" in c.body)
    assert reply["text"] == "Acknowledged by token:test-operator via api."


async def test_bad_signatures_stale_timestamps_and_replays_get_401_and_change_nothing(
    channel_hub: ChannelHub,
) -> None:
    hub = channel_hub
    incident_id = await hub.page()
    await hub.slack.wait_for(lambda s: bool(s.of("chat.postMessage")))
    forged = await hub.press("acknowledge", incident_id, secret="not-the-signing-secret")
    stale = await hub.press("acknowledge", incident_id, age_s=301)
    assert (forged.status_code, stale.status_code) == (401, 401)
    unsigned = await hub.hub.client.post(
        "/api/integrations/slack/interactions", content=urlencode({"payload": "{}"})
    )
    assert unsigned.status_code == 401
    assert (await hub.incident(incident_id))["state"] == "triggered"

    silenced = await hub.press("silence_1h", incident_id, age_s=299)
    assert silenced.status_code == 200, silenced.text
    body = urlencode({"command": "/bounceback", "text": f"ack {incident_id}", "user_id": "U0ANN"})
    timestamp_then = str(int(hub.clock.now().timestamp()))
    first = await hub.slack_post("/api/integrations/slack/commands", body)
    assert first.status_code == 200
    replay = await hub.slack_post("/api/integrations/slack/commands", body)
    assert replay.status_code == 401 and "replay" in replay.text, timestamp_then


async def test_escalate_now_pages_the_next_level_at_once(channel_hub: ChannelHub) -> None:
    hub = channel_hub
    incident_id = await hub.page()
    await hub.slack.wait_for(lambda s: bool(s.of("chat.postMessage")))
    response = await hub.press("escalate_now", incident_id)
    assert response.status_code == 200 and "escalated" in response.json()["text"]
    await hub.slack.wait_for(
        lambda s: any(c.body["channel"] == "U0BOB" for c in s.of("chat.postMessage"))
    )
    lines = await hub.wait_for_timeline(incident_id, "escalate now by person:ann via slack")
    assert any("L2: paging bob" in line for line in lines)


async def test_slash_command_acknowledges_and_reports_status(channel_hub: ChannelHub) -> None:
    hub = channel_hub
    incident_id = await hub.page()
    await hub.slack.wait_for(lambda s: bool(s.of("chat.postMessage")))

    async def command(text: str, user: str = "U0BOB") -> str:
        body = urlencode({"command": "/bounceback", "text": text, "user_id": user})
        response = await hub.slack_post("/api/integrations/slack/commands", body)
        assert response.status_code == 200, response.text
        assert response.json()["response_type"] == "ephemeral"
        text_: str = response.json()["text"]
        await hub.clock.advance(1)  # a new timestamp: a new signature, not a replay
        return text_

    assert f"#{incident_id} CRITICAL checkout is down" in await command("status")
    assert "not linked" in await command(f"ack {incident_id}", user="U0NOBODY")
    assert "Usage" in await command("dance")
    assert "acknowledged by Bob" in await command(f"ack {incident_id}")
    incident = await hub.incident(incident_id)
    assert (incident["state"], incident["acknowledged_by"]) == ("acknowledged", "person:bob")
    assert "already acknowledged" in await command(f"ack {incident_id}")
    assert "resolved by Bob" in await command(f"resolve {incident_id}")


async def test_a_permanent_slack_error_sends_the_sms_instead_and_the_timeline_says_why(
    channel_hub: ChannelHub,
) -> None:
    hub = channel_hub
    hub.slack.fail("chat.postMessage", "user_not_found")
    incident_id = await hub.page()
    await hub.twilio.wait_for(lambda t: bool(t.messages))
    sms = hub.twilio.messages[0].body
    assert (sms["To"], sms["From"]) == ("+15550000001", "+15005550006")
    assert sms["Body"].startswith(f"BB#{incident_id} CRITICAL")
    lines = await hub.wait_for_timeline(incident_id, "page to ann by sms: sent")
    [why] = [line for line in lines if "page to ann by slack: failed" in line]
    assert "permanent error: Slack: user_not_found" in why
    assert why.endswith("falling back to sms")


async def test_slack_rate_limits_retry_after_slacks_delay(
    channel_hub_factory: ChannelHubFactory,
) -> None:
    hub = await channel_hub_factory(channels=["slack"])
    hub.slack.fail("chat.postMessage", "ratelimited", 429, **{"Retry-After": "7"})
    incident_id = await hub.page()
    lines = await hub.wait_for_timeline(incident_id, "attempt 1 failed")
    expected = "ratelimited (retry after 7 s)); retrying in 0:00:07"
    assert any(expected in line for line in lines), lines
    await hub.clock.advance(7)
    await hub.slack.wait_for(lambda s: len(s.of("chat.postMessage")) == 2)


def test_slack_errors_say_whether_retrying_helps() -> None:
    from slack_sdk.errors import SlackApiError
    from slack_sdk.web.slack_response import SlackResponse

    def error(status: int, name: str) -> SlackApiError:
        response = SlackResponse(
            client=None,
            http_verb="POST",
            api_url="x",
            req_args={},
            data={"ok": False, "error": name},
            headers={},
            status_code=status,
        )
        return SlackApiError("failed", response)  # type: ignore[no-untyped-call]

    assert slack_error(error(200, "channel_not_found")).permanent
    assert slack_error(error(200, "invalid_auth")).permanent
    assert not slack_error(error(503, "service_unavailable")).permanent
    assert not slack_error(ConnectionResetError("reset")).permanent
    assert slack_blocks.buttons("resolved", 1) == []
