"""A delivery cut off after the provider took the message (its hub killed before it recorded
"sent") is looked for at the provider by the next attempt, and recorded, not sent again: Slack
by the message metadata naming the notification, Twilio texts by their words, calls by number;
what another notification recorded is never taken for it."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
import tomli_w
from pydantic import SecretStr

from bounceback.api.auth.roles import Role
from bounceback.api.auth.store import Credentials
from bounceback.api.clock import FakeClock, SystemClock
from bounceback.api.notify.channel import Message, Purpose, Recipient
from bounceback.api.notify.slack import SlackChannel
from bounceback.api.notify.sms import SmsChannel
from bounceback.api.notify.voice import VoiceChannel
from bounceback.api.settings import HubSettings
from bounceback.api.store.db import Database
from bounceback.api.store.migrate import migrate
from bounceback.api.store.tables import incidents, notifications
from bounceback.api.testing import free_port, running_hub, start_hub_process
from tests.api.notify.conftest import ACCOUNT_SID, AUTH_TOKEN, FROM, escalation
from tests.api.notify.fakes import GUARD_S, FakeSlack, FakeTwilio, running

pytestmark = pytest.mark.anyio

ANN = Recipient("ann", "Ann", "U0ANN")
ANN_PHONE = Recipient("ann", "Ann", "+15550000001")
SINCE = datetime.now(UTC) - timedelta(minutes=1)


def page(notification_id: int, incident_id: int = 7, purpose: Purpose = Purpose.PAGE) -> Message:
    return Message(
        notification_id=notification_id,
        purpose=purpose,
        incident_id=incident_id,
        summary="checkout is down",
        severity="critical",
        state="triggered",
    )


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    fake = FakeSlack()
    async with running(fake):
        yield fake


@pytest.fixture
async def twilio() -> AsyncIterator[FakeTwilio]:
    fake = FakeTwilio()
    async with running(fake):
        yield fake


async def test_a_slack_message_is_found_by_the_notification_it_carries(slack: FakeSlack) -> None:
    channel = SlackChannel("xoxb-test", api_url=slack.url + "/api/")
    sent = await channel.send(ANN, page(41))
    found = await channel.find(ANN, page(41), SINCE, set())
    assert found is not None and found.provider_id == sent.provider_id
    assert await channel.find(ANN, page(42), SINCE, set()) is None


async def test_a_text_is_found_by_its_words_unless_another_notification_recorded_it(
    twilio: FakeTwilio,
) -> None:
    channel = SmsChannel(ACCOUNT_SID, AUTH_TOKEN, FROM, api_url=twilio.url)
    sent = await channel.send(ANN_PHONE, page(41))
    found = await channel.find(ANN_PHONE, page(41), SINCE, set())
    assert found is not None and found.provider_id == sent.provider_id
    assert await channel.find(ANN_PHONE, page(41, incident_id=8), SINCE, set()) is None
    assert await channel.find(ANN_PHONE, page(41), SINCE, {str(sent.provider_id)}) is None
    later = datetime.now(UTC) + timedelta(hours=1)
    assert await channel.find(ANN_PHONE, page(41), later, set()) is None


async def test_a_call_is_found_by_number_and_never_for_anything_but_a_page(
    twilio: FakeTwilio,
) -> None:
    channel = VoiceChannel(
        ACCOUNT_SID, AUTH_TOKEN, FROM, public_url="http://hub", api_url=twilio.url
    )
    sent = await channel.send(ANN_PHONE, page(41))
    found = await channel.find(ANN_PHONE, page(41), SINCE, set())
    assert found is not None and found.provider_id == sent.provider_id
    assert await channel.find(ANN_PHONE, page(41), SINCE, {str(sent.provider_id)}) is None
    resolved = page(41, purpose=Purpose.RESOLVED)
    assert await channel.find(ANN_PHONE, resolved, SINCE, set()) is None


async def kill_while_slack_holds(
    db: Database, db_settings: HubSettings, slack: FakeSlack, tmp_path: Path
) -> None:
    """A hub process pages Ann on Slack; Slack stores the message and never answers; the hub
    is SIGKILLed: the page is at Slack, the hub's record says pending."""
    token = await Credentials(db, SystemClock()).create_token("ops", Role.OPERATOR)
    config = tmp_path / "hub.toml"
    policy = escalation(["slack"]).model_dump(mode="json", exclude_none=True)
    config.write_text(tomli_w.dumps({"escalation": policy}))
    slack.hold.set()
    port = free_port()
    process = await start_hub_process(
        db_settings,
        port,
        tmp_path / "hub.log",
        BOUNCEBACK_CONFIG=str(config),
        SLACK_BOT_TOKEN="xoxb-test-token",
        SLACK_API_URL=slack.url + "/api/",
    )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            response = await client.post(
                "/api/alerts",
                json={"source": "t", "summary": "db down", "severity": "critical"},
                headers={"Authorization": f"Bearer {token}"},
            )
        assert response.status_code == 202
        await asyncio.wait_for(slack.holding.wait(), GUARD_S)
    finally:
        process.send_signal(signal.SIGKILL)
        await asyncio.to_thread(process.wait)
    slack.hold.clear()
    slack.released.set()
    assert len(slack.posted["D0ANN"]) == 1  # Slack has it; the hub never heard


async def restart_until_recorded(db: Database, db_settings: HubSettings, slack: FakeSlack) -> Any:
    """A hub on the same store, its clock past the dead one's lease, until the page is
    recorded one way or the other; returns the notification row."""
    clock = FakeClock(datetime.now(UTC) + timedelta(minutes=1))
    settings = db_settings.model_copy(
        update={
            "escalation": escalation(["slack"]),
            "slack_bot_token": SecretStr("xoxb-test-token"),
            "slack_api_url": slack.url + "/api/",
        }
    )
    async with running_hub(settings, clock=clock, create_credentials=False) as hub:
        hub.hub.scheduler.wake()
        async with asyncio.timeout(GUARD_S):
            while True:
                async with db.read() as conn:
                    row = (await conn.execute(sa.select(notifications))).one()
                if row.state != "pending":
                    return row
                await asyncio.sleep(0.05)


@pytest.fixture
async def store(db_settings: HubSettings) -> AsyncIterator[Database]:
    db = Database(db_settings.sqlalchemy_url, schema=db_settings.bounceback_database_schema)
    await migrate(db)
    yield db
    await db.dispose()


@pytest.mark.slow
async def test_a_hub_killed_after_slack_took_the_page_records_it_and_does_not_post_again(
    store: Database, db_settings: HubSettings, slack: FakeSlack, tmp_path: Path
) -> None:
    await kill_while_slack_holds(store, db_settings, slack, tmp_path)
    row = await restart_until_recorded(store, db_settings, slack)
    assert len(slack.posted["D0ANN"]) == 1
    assert row.state == "sent"
    assert "found at the provider after an interrupted attempt" in row.answer


@pytest.mark.slow
async def test_a_page_cut_off_then_resolved_is_recorded_as_sent_when_slack_has_it(
    store: Database, db_settings: HubSettings, slack: FakeSlack, tmp_path: Path
) -> None:
    await kill_while_slack_holds(store, db_settings, slack, tmp_path)
    async with store.transaction() as conn:  # resolved meanwhile, elsewhere
        await conn.execute(incidents.update().values(state="resolved"))
    row = await restart_until_recorded(store, db_settings, slack)
    assert len(slack.posted["D0ANN"]) == 1
    assert row.state == "sent"  # not "skipped": Ann did get it
    assert "found at the provider after an interrupted attempt" in row.answer
