"""Factories for escalation tests: a hub on the store under test with a fake clock, people on
every level, and channels that record what they were asked to send."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pytest

from bounceback.api.clock import FakeClock
from bounceback.api.context import Hub
from bounceback.api.escalation.config import EscalationConfig
from bounceback.api.intake.event import AlertEvent, EventAction
from bounceback.api.notify.channel import Message, NotifyError, Receipt, Recipient
from bounceback.api.oncall.models import Person
from bounceback.api.schema import Severity
from bounceback.api.settings import HubSettings
from bounceback.api.store.db import Database

PEOPLE = ("ann", "bob", "cy", "dee", "eve")


@dataclass
class Sent:
    at: datetime
    recipient: Recipient
    message: Message


@dataclass
class RecordingChannel:
    """A channel that keeps what it sends; ``failures`` are raised first, one per send."""

    name: str
    clock: FakeClock
    failures: list[NotifyError] = field(default_factory=list)
    sent: list[Sent] = field(default_factory=list)

    def address(self, person: Person) -> str | None:
        return {"email": person.email, "sms": person.phone}.get(self.name)

    async def send(self, recipient: Recipient, message: Message) -> Receipt:
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append(Sent(self.clock.now(), recipient, message))
        return Receipt(answer=f"{self.name} accepted", provider_id=f"id-{len(self.sent)}")

    def pages(self) -> list[tuple[float, str]]:
        """(minutes since the clock's start, person) of each page."""
        return [
            ((s.at - START).total_seconds() / 60, s.recipient.person_id)
            for s in self.sent
            if s.message.purpose == "page"
        ]


START = FakeClock().now()


def config(**changes: Any) -> EscalationConfig:
    people = [
        {
            "id": p,
            "name": p.title(),
            "email": f"{p}@example.com",
            "phone": f"+1555000000{i}",
            "channels": ["email", "sms"],
        }
        for i, p in enumerate(PEOPLE)
    ]
    policy = {
        "id": "default",
        "name": "Default",
        "levels": [{"name": f"L{i + 1}", "targets": [f"person:{p}"]} for i, p in enumerate(PEOPLE)],
    }
    document: dict[str, Any] = {"people": people, "policies": [policy]}
    document.update(changes)
    return EscalationConfig.model_validate(document)


@dataclass
class EscalationRig:
    hub: Hub
    clock: FakeClock
    email: RecordingChannel
    sms: RecordingChannel

    async def settle(self) -> None:
        """Run every piece of work that is due, and what it causes, until nothing is left."""
        for _ in range(50):
            started = await self.hub.scheduler.run_once()
            await self.hub.scheduler.drain()
            if not started:
                return
        raise AssertionError("work keeps coming")

    async def at_minute(self, minute: float) -> None:
        target = START.timestamp() + minute * 60
        await self.clock.advance(target - self.clock.now().timestamp())
        await self.settle()

    async def alert(
        self,
        key: str = "db-down",
        severity: Severity = Severity.CRITICAL,
        action: EventAction = EventAction.TRIGGER,
        labels: dict[str, str] | None = None,
    ) -> int:
        event = AlertEvent(
            fingerprint=key,
            dedup_key=key,
            action=action,
            severity=severity,
            summary=f"{key} is failing",
            source="test",
            actor="integration:test",
            service="db",
            labels=labels or {},
        )
        [result] = await self.hub.ingest.submit([event], actor="test", action="alert")
        assert result.incident_id is not None
        await self.settle()
        return result.incident_id


RigFactory = Callable[..., Awaitable[EscalationRig]]


@pytest.fixture
async def rig_factory(db: Database, db_settings: HubSettings) -> AsyncIterator[RigFactory]:
    hubs: list[Hub] = []

    async def make(escalation: EscalationConfig | None = None, **settings: Any) -> EscalationRig:
        clock = FakeClock(START)
        changes = {**settings, "escalation": escalation or config()}
        hub = Hub.build(db_settings.model_copy(update=changes), db, clock)
        email, sms = RecordingChannel("email", clock), RecordingChannel("sms", clock)
        hub.channels.register(email, enabled=hub.settings.email_notifications_enabled)
        hub.channels.register(sms, enabled=hub.settings.sms_notifications_enabled)
        hub.ingest.start()
        hubs.append(hub)
        return EscalationRig(hub, clock, email, sms)

    yield make
    for hub in hubs:
        await hub.ingest.close()


@pytest.fixture
async def rig(rig_factory: RigFactory) -> EscalationRig:
    return await rig_factory()
