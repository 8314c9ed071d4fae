"""The one small protocol every notification channel implements, and its error.

A channel turns a ``Message`` for one ``Recipient`` into a request to its provider and returns
the provider's ``Receipt``. It does no retries and no fallback: the dispatcher does, guided by
``NotifyError.permanent`` (retrying cannot help: bad address, unknown user, rejected by the
provider) and ``retry_after`` (the provider said when). Channels register by name in
``notify/registry.py``; everything they need (settings, secrets, an ``httpx`` transport, the
clock) is passed to their constructor.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol, runtime_checkable

from bounceback.api.oncall.models import Person


class Purpose(StrEnum):
    PAGE = "page"  # someone must act: acknowledge or resolve
    ACKNOWLEDGED = "acknowledged"  # the people paged are told someone is on it
    RESOLVED = "resolved"  # the people paged are told it is over
    TEST = "test"  # an operator checks the channel works


@dataclass(frozen=True)
class Links:
    """Where the recipient can act; the signed ones work without logging in, once."""

    incident: str
    acknowledge: str | None = None
    resolve: str | None = None


@dataclass(frozen=True)
class Message:
    notification_id: int  # stable across retries: the idempotency key towards providers
    purpose: Purpose
    incident_id: int | None
    summary: str
    severity: str
    state: str
    service: str | None = None
    source: str | None = None
    level: str | None = None  # "L2", for pages
    links: Links | None = None
    labels: dict[str, str] = field(default_factory=dict)

    @property
    def title(self) -> str:
        number = f"#{self.incident_id} " if self.incident_id is not None else ""
        prefix = {
            Purpose.PAGE: f"[{self.severity.upper()}]",
            Purpose.ACKNOWLEDGED: "[ACKNOWLEDGED]",
            Purpose.RESOLVED: "[RESOLVED]",
            Purpose.TEST: "[TEST]",
        }[self.purpose]
        return f"{prefix} {number}{self.summary}"[:200]


@dataclass(frozen=True)
class Recipient:
    person_id: str
    name: str
    address: str  # as the channel needs it: an email address, a Slack user id, an E.164 number


@dataclass(frozen=True)
class Receipt:
    """What the provider answered, as it goes on the incident's timeline."""

    answer: str
    provider_id: str | None = None  # the provider's message id (Message-ID, ts, SID)


class NotifyError(Exception):
    def __init__(
        self, message: str, *, permanent: bool = False, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.retry_after = retry_after


@runtime_checkable
class Traceable(Protocol):
    """A channel whose provider can be asked what it already took (Slack, Twilio): after an
    attempt that was cut off between the provider taking the message and the hub recording it,
    the dispatcher looks before it sends again."""

    async def find(
        self, recipient: Recipient, message: Message, since: datetime, recorded: set[str]
    ) -> Receipt | None:
        """The provider's record of ``message`` to ``recipient``, sent at or after ``since``
        (give or take the providers' clocks), that is none of the ``recorded`` provider ids
        (other notifications'); None when it never arrived."""
        ...


class Channel(Protocol):
    """``name`` is what policies, people's preferences and the outbox call the channel."""

    @property
    def name(self) -> str: ...

    def address(self, person: Person) -> str | None:
        """Where ``person`` gets messages on this channel; None: they cannot be reached on it."""
        ...

    async def send(self, recipient: Recipient, message: Message) -> Receipt:
        """Deliver once; raise ``NotifyError`` when the provider did not take it."""
        ...
