"""Factories for escalation tests: a hub on the store under test with a fake clock, people on
every level, and channels that record what they were asked to send."""

from __future__ import annotations

import asyncio
import email
import email.message
import email.policy
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from bounceback.api.clock import FakeClock
from bounceback.api.context import Hub
from bounceback.api.escalation.config import EscalationConfig
from bounceback.api.intake.event import AlertEvent, EventAction
from bounceback.api.notify.channel import Message, NotifyError, Receipt, Recipient
from bounceback.api.oncall.models import Person
from bounceback.api.schema import Severity
from bounceback.api.settings import HubSettings
from bounceback.api.store.db import Database
from bounceback.api.testing import free_port

GUARD_S = 15  # a bound on waits for another thread or process, never reached when things work
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


class MailSink:
    """What a real SMTP server (aiosmtpd on loopback) received; ``refuse`` rejects recipients,
    ``hold`` keeps the DATA command waiting (a message in flight that was never accepted)."""

    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []
        self.refuse: set[str] = set()
        self.hold = threading.Event()
        self.holding = threading.Event()

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if address in self.refuse:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        while self.hold.is_set():
            self.holding.set()
            await asyncio.sleep(0.01)
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(parsed, email.message.EmailMessage)
        self.messages.append(parsed)
        return "250 Message accepted"

    async def wait_for(self, count: int) -> list[email.message.EmailMessage]:
        """The messages once there are ``count`` (the server runs in its own thread)."""
        async with asyncio.timeout(GUARD_S):
            while len(self.messages) < count:  # noqa: ASYNC110 - filled by another thread
                await asyncio.sleep(0.01)
        return self.messages


@pytest.fixture
def smtp() -> Iterator[tuple[MailSink, int]]:
    sink = MailSink()
    controller = Controller(sink, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield sink, controller.port
    finally:
        sink.hold.clear()
        controller.stop()
