"""Escalation end to end in the hub (store, scheduler, outbox, dispatcher) with a fake clock."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from bounceback.api.intake.event import EventAction
from bounceback.api.notify.channel import NotifyError, Purpose
from bounceback.api.schema import Severity
from bounceback.api.store.tables import incident_events, notifications
from tests.api.escalation.conftest import EscalationRig, RigFactory, config

pytestmark = pytest.mark.anyio


async def timeline(rig: EscalationRig, incident_id: int) -> list[dict[str, Any]]:
    async with rig.hub.db.read() as conn:
        rows = await conn.execute(
            sa.select(incident_events)
            .where(incident_events.c.incident_id == incident_id)
            .order_by(incident_events.c.id)
        )
        return [dict(row._mapping) for row in rows]


async def test_an_unacknowledged_critical_incident_pages_each_level_exactly_per_policy(
    rig: EscalationRig,
) -> None:
    await rig.alert()
    for minute in (10, 15, 30, 45, 89, 90, 150, 239):
        await rig.at_minute(minute)
    assert rig.email.pages() == [(0, "ann"), (15, "bob"), (45, "cy"), (90, "dee"), (150, "eve")]
    await rig.at_minute(240)
    async with rig.hub.db.read() as conn:
        status = await conn.scalar(sa.text("SELECT status FROM escalations"))
    assert status == "exhausted"


async def test_a_silence_holds_the_escalation_and_it_resumes_when_the_silence_ends(
    rig: EscalationRig,
) -> None:
    incident_id = await rig.alert()
    await rig.at_minute(1)
    await rig.hub.incidents.silence(
        incident_id, "token:ops", rig.clock.now() + timedelta(minutes=20)
    )
    await rig.settle()
    for minute in (15, 20, 21, 36, 51, 66, 120):
        await rig.at_minute(minute)
    # L2 was due at 15 but the silence held it to 21; each later level keeps its own timeout.
    assert rig.email.pages()[:3] == [(0, "ann"), (21, "bob"), (51, "cy")]


async def test_an_acknowledgement_at_20_minutes_stops_the_escalation(rig: EscalationRig) -> None:
    incident_id = await rig.alert()
    await rig.at_minute(15)
    await rig.at_minute(20)
    await rig.hub.escalation.acknowledge(incident_id, "person:bob", via="api")
    await rig.settle()
    for minute in (45, 90, 150, 300):
        await rig.at_minute(minute)
    assert rig.email.pages() == [(0, "ann"), (15, "bob")]
    entries = [e for e in await timeline(rig, incident_id) if e["kind"] == "escalation"]
    assert "acknowledged by person:bob via api" in entries[-1]["message"]


async def test_an_acknowledgement_through_the_incidents_api_also_stops_it(
    rig: EscalationRig,
) -> None:
    incident_id = await rig.alert()
    await rig.at_minute(15)
    await rig.at_minute(20)
    await rig.hub.incidents.acknowledge(incident_id, "token:ops")
    await rig.settle()
    await rig.at_minute(45)
    assert rig.email.pages() == [(0, "ann"), (15, "bob")]


async def test_resolving_notifies_everyone_who_was_paged(rig: EscalationRig) -> None:
    incident_id = await rig.alert()
    await rig.at_minute(15)
    await rig.at_minute(45)
    await rig.hub.escalation.resolve(incident_id, "person:cy", via="api", note="fixed")
    await rig.settle()
    resolved = sorted(
        s.recipient.person_id for s in rig.email.sent if s.message.purpose == Purpose.RESOLVED
    )
    assert resolved == ["ann", "bob", "cy"]
    await rig.at_minute(90)
    assert [p for _, p in rig.email.pages()] == ["ann", "bob", "cy"]


async def test_a_resolve_from_the_alert_source_ends_the_escalation_and_tells_the_paged(
    rig: EscalationRig,
) -> None:
    await rig.alert()
    await rig.at_minute(15)
    await rig.at_minute(16)
    await rig.alert(action=EventAction.RESOLVE)
    resolved = [s.recipient.person_id for s in rig.email.sent if s.message.purpose == "resolved"]
    assert sorted(resolved) == ["ann", "bob"]
    await rig.at_minute(45)
    assert len(rig.email.pages()) == 2


async def test_a_permanent_error_falls_back_to_the_next_channel_and_the_timeline_says_why(
    rig_factory: RigFactory,
) -> None:
    rig = await rig_factory(sms_notifications_enabled=True)
    rig.email.failures.append(NotifyError("550 mailbox unavailable", permanent=True))
    incident_id = await rig.alert()
    assert rig.email.sent == []
    assert [s.recipient.person_id for s in rig.sms.sent] == ["ann"]
    messages = [
        e["message"] for e in await timeline(rig, incident_id) if e["kind"] == "notification"
    ]
    assert any("550 mailbox unavailable" in m and "falling back to sms" in m for m in messages)
    assert any("by sms: sent" in m for m in messages)


async def test_a_retryable_error_is_retried_with_backoff_and_sent_once(rig: EscalationRig) -> None:
    rig.email.failures.append(NotifyError("connection reset"))
    incident_id = await rig.alert()
    assert rig.email.sent == []
    await rig.at_minute(1)
    assert rig.email.pages() == [(1, "ann")]
    async with rig.hub.db.read() as conn:
        row = (
            await conn.execute(
                sa.select(notifications).where(notifications.c.incident_id == incident_id)
            )
        ).one()
    assert (row.state, row.attempts) == ("sent", 2)


async def test_a_switched_off_channel_is_not_planned(rig: EscalationRig) -> None:
    # SMS_NOTIFICATIONS_ENABLED is false by default: ann has a phone but gets email only.
    await rig.alert()
    assert [s.recipient.person_id for s in rig.email.sent] == ["ann"]
    assert rig.sms.sent == []


async def test_no_escalation_when_it_is_switched_off(rig_factory: RigFactory) -> None:
    rig = await rig_factory(escalation_enabled=False)
    await rig.alert()
    await rig.at_minute(60)
    assert rig.email.sent == []


async def test_routing_picks_the_policy_by_labels_and_severity(rig_factory: RigFactory) -> None:
    base = config()
    policies = [
        {
            "id": "db",
            "name": "Database",
            "priority": 1,
            "route": {"labels": {"team": "db"}, "min_severity": "high"},
            "levels": [{"name": "DBA", "targets": ["person:eve"]}],
        },
        base.policies[0].model_dump(mode="json"),
    ]
    rig = await rig_factory(config(policies=policies))
    await rig.alert("a", Severity.CRITICAL, labels={"team": "db"})
    await rig.alert("b", Severity.LOW, labels={"team": "db"})
    await rig.alert("c", Severity.CRITICAL, labels={"team": "web"})
    assert [s.recipient.person_id for s in rig.email.sent] == ["eve", "ann", "ann"]


async def test_a_running_escalation_keeps_its_snapshot_when_the_policy_changes(
    rig_factory: RigFactory,
) -> None:
    rig = await rig_factory(l2_timeout_minutes=30)
    await rig.alert()
    rig.hub.escalator._seed_minutes = (1, 1, 1, 1, 1)  # what a restart with new settings does
    await rig.at_minute(15)
    await rig.at_minute(44)
    assert rig.email.pages() == [(0, "ann"), (15, "bob")]


async def test_schedule_targets_page_whoever_is_on_call(rig_factory: RigFactory) -> None:
    schedule = {
        "id": "primary",
        "name": "Primary",
        "layers": [{"start": "2025-12-31T09:00:00", "handoff": "daily", "people": ["cy", "dee"]}],
    }
    policy = {"id": "p", "name": "P", "levels": [{"name": "L1", "targets": ["schedule:primary"]}]}
    rig = await rig_factory(config(schedules=[schedule], policies=[policy]))
    await rig.alert()
    assert [s.recipient.person_id for s in rig.email.sent] == ["cy"]  # 2026-01-01 00:00 UTC
