"""Twilio end to end: SMS pages and replies, calls with their TwiML and the keys pressed."""

from __future__ import annotations

import re
from html import unescape
from urllib.parse import urlsplit

import pytest

from bounceback.api.notify.channel import Message, NotifyError, Purpose, Recipient
from bounceback.api.notify.voice import VoiceChannel
from tests.api.notify.conftest import ACCOUNT_SID, AUTH_TOKEN, FROM, ChannelHub, ChannelHubFactory

pytestmark = pytest.mark.anyio


async def sms_hub(factory: ChannelHubFactory) -> ChannelHub:
    return await factory(channels=["sms"])


async def test_an_sms_page_is_sent_and_a_signed_ack_reply_acknowledges(
    channel_hub_factory: ChannelHubFactory,
) -> None:
    hub = await sms_hub(channel_hub_factory)
    incident_id = await hub.page()
    await hub.twilio.wait_for(lambda t: bool(t.messages))
    sms = hub.twilio.messages[0]
    assert sms.headers["authorization"].startswith("Basic ")
    assert sms.body["Body"] == (
        f"BB#{incident_id} CRITICAL: checkout is down. Reply ACK {incident_id} or RES {incident_id}"
    )
    response = await hub.sms_reply(f"ack {incident_id}")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/xml")
    assert f"<Message>Incident #{incident_id} acknowledged by Ann.</Message>" in response.text
    incident = await hub.incident(incident_id)
    assert (incident["state"], incident["acknowledged_by"]) == ("acknowledged", "person:ann")
    await hub.wait_for_timeline(incident_id, "acknowledged by person:ann via sms")

    resolved = await hub.sms_reply(f"RES {incident_id}")
    assert "resolved by Ann" in resolved.text


async def test_unsigned_and_badly_signed_replies_are_refused_and_change_nothing(
    channel_hub_factory: ChannelHubFactory,
) -> None:
    hub = await sms_hub(channel_hub_factory)
    incident_id = await hub.page()
    unsigned = await hub.sms_reply(f"ACK {incident_id}", signed=False)
    forged = await hub.sms_reply(f"ACK {incident_id}", token="not-the-auth-token")
    assert (unsigned.status_code, forged.status_code) == (403, 403)
    assert (await hub.incident(incident_id))["state"] == "triggered"


async def test_stop_and_other_reserved_words_are_not_commands(
    channel_hub_factory: ChannelHubFactory,
) -> None:
    hub = await sms_hub(channel_hub_factory)
    incident_id = await hub.page()
    for word in ("STOP", "stop", "HELP", "CANCEL", "START"):
        response = await hub.sms_reply(word)
        assert response.status_code == 200
        assert "<Message>" not in response.text  # Twilio answers its own keywords
    assert "Reply ACK" in (await hub.sms_reply("what now")).text
    stranger = await hub.sms_reply(f"ACK {incident_id}", sender="+15559999999")
    assert "not linked" in stranger.text
    assert (await hub.incident(incident_id))["state"] == "triggered"


async def call_hub(factory: ChannelHubFactory) -> ChannelHub:
    return await factory(channels=["phone", "sms"], phone_notifications_enabled=True)


def gather_action(twiml: str) -> str:
    found = re.search(r'<Gather action="([^"]+)"', twiml)
    assert found, twiml
    return unescape(found.group(1))


async def test_a_critical_page_calls_with_a_gather_and_digit_1_acknowledges(
    channel_hub_factory: ChannelHubFactory,
) -> None:
    hub = await call_hub(channel_hub_factory)
    incident_id = await hub.page()
    await hub.twilio.wait_for(lambda t: bool(t.calls))
    call = hub.twilio.calls[0].body
    assert (call["To"], call["From"]) == ("+15550000001", FROM)
    twiml = call["Twiml"]
    assert twiml.count('numDigits="1"') == 2  # the prompt, and the prompt once more
    assert "Press 1 to acknowledge, 2 to resolve, 3 to escalate now." in twiml
    action = gather_action(twiml)
    assert action.startswith(hub.hub.url + "/api/integrations/twilio/voice/gather?")
    assert "noinput=1" in twiml.split("</Gather>")[-1]  # then the hub hears of no input

    path = action.removeprefix(hub.hub.url)
    digits = {"CallSid": "CA" + "2" * 32, "AccountSid": ACCOUNT_SID, "To": call["To"]}
    unsigned = await hub.twilio_post(path, {**digits, "Digits": "1"}, signed=False)
    assert unsigned.status_code == 403
    assert (await hub.incident(incident_id))["state"] == "triggered"
    pressed = await hub.twilio_post(path, {**digits, "Digits": "1"})
    assert pressed.status_code == 200
    assert "<Say>Incident" in pressed.text and "<Hangup />" in pressed.text
    incident = await hub.incident(incident_id)
    assert (incident["state"], incident["acknowledged_by"]) == ("acknowledged", "person:ann")
    await hub.wait_for_timeline(incident_id, "acknowledged by person:ann via phone")


async def test_an_unanswered_call_hangs_up_and_pages_the_next_channel(
    channel_hub_factory: ChannelHubFactory,
) -> None:
    hub = await call_hub(channel_hub_factory)
    incident_id = await hub.page()
    await hub.twilio.wait_for(lambda t: bool(t.calls))
    twiml = hub.twilio.calls[0].body["Twiml"]
    redirect = re.search(r"<Redirect method=\"POST\">([^<]+)</Redirect>", twiml)
    assert redirect, twiml
    url = urlsplit(unescape(redirect.group(1)))
    response = await hub.twilio_post(f"{url.path}?{url.query}", {"CallSid": "CA" + "3" * 32})
    assert response.status_code == 200 and "<Hangup />" in response.text
    await hub.twilio.wait_for(lambda t: bool(t.messages))
    assert hub.twilio.messages[0].body["To"] == "+15550000001"
    await hub.wait_for_timeline(
        incident_id, "page to ann by phone: unanswered (no key pressed); falling back to sms"
    )
    again = await hub.twilio_post(f"{url.path}?{url.query}", {"CallSid": "CA" + "3" * 32})
    assert again.status_code == 200
    assert len(hub.twilio.messages) == 1  # the same unanswered call falls back once


async def test_a_warning_page_is_never_a_phone_call() -> None:
    channel = VoiceChannel(ACCOUNT_SID, AUTH_TOKEN, FROM, public_url="http://hub.invalid")
    message = Message(
        notification_id=1,
        purpose=Purpose.PAGE,
        incident_id=7,
        summary="disk filling",
        severity="warning",
        state="triggered",
    )
    with pytest.raises(NotifyError) as refused:
        await channel.send(Recipient("ann", "Ann", "+15550000001"), message)
    assert refused.value.permanent and "critical pages only" in str(refused.value)
