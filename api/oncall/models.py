"""People, teams and on-call schedules as configured (hub.toml ``[escalation]``) or sent to the
API. Pydantic only: these are the wire and config shapes; the rotation maths is in ``rotation``."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Slug = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")]
# The channels a person can be reached on; the notify registry knows which are implemented.
ChannelName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def check_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {value!r}; use an IANA name such as Europe/Paris"
        ) from None
    return value


class Person(_Model):
    """Someone who can be paged. ``channels`` is their order of preference: a page goes to the
    first usable one and falls back to the next on a permanent error."""

    id: Slug
    name: str = Field(min_length=1, max_length=200)
    email: str | None = Field(None, pattern=r"^[^@\s]+@[^@\s]+$", max_length=254)
    slack_user_id: str | None = Field(None, pattern=r"^[UW][A-Z0-9]{2,20}$")
    phone: str | None = Field(None, pattern=r"^\+[1-9][0-9]{6,14}$")  # E.164
    channels: tuple[ChannelName, ...] = ("email", "slack", "sms", "phone")
    timezone: str = "UTC"

    _zone = field_validator("timezone")(check_zone)


class Team(_Model):
    id: Slug
    name: str = Field(min_length=1, max_length=200)
    members: tuple[Slug, ...] = Field(min_length=1)


class Handoff(StrEnum):
    DAILY = "daily"
    WEEKLY = "weekly"
    CUSTOM = "custom"  # every ``shift_hours`` of wall-clock time


class Layer(_Model):
    """A rotation: ``people`` take turns, each for one shift, handing off at the wall-clock time
    of ``start`` in the schedule's time zone (09:00 stays 09:00 across DST changes)."""

    name: str = Field("layer", min_length=1, max_length=100)
    start: datetime  # naive: wall-clock time in the schedule's zone; aware: converted to it
    handoff: Handoff = Handoff.WEEKLY
    # At least an hour: a DST gap (at most an hour) then cannot reorder two handoffs.
    shift_hours: float | None = Field(None, ge=1, le=24 * 366)
    people: tuple[Slug, ...] = Field(min_length=1)
    end: datetime | None = None

    @model_validator(mode="after")
    def _custom_needs_hours(self) -> Layer:
        if (self.handoff == Handoff.CUSTOM) != (self.shift_hours is not None):
            raise ValueError("'shift_hours' is required with handoff = 'custom' and only then")
        return self

    @property
    def period(self) -> timedelta:
        if self.handoff == Handoff.DAILY:
            return timedelta(days=1)
        if self.handoff == Handoff.WEEKLY:
            return timedelta(weeks=1)
        assert self.shift_hours is not None
        return timedelta(hours=self.shift_hours)


class Override(_Model):
    """``person`` is on call from ``start`` to ``end``, whatever the layers say."""

    person: Slug
    start: datetime
    end: datetime

    @model_validator(mode="after")
    def _ordered(self) -> Override:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("override times need a timezone, e.g. 2026-01-31T12:00:00Z")
        if self.end <= self.start:
            raise ValueError("'end' must be after 'start'")
        return self


class Schedule(_Model):
    """Layers stack: a later layer wins where it has a shift; overrides win over all layers."""

    id: Slug
    name: str = Field(min_length=1, max_length=200)
    timezone: str = "UTC"
    layers: tuple[Layer, ...] = Field(min_length=1, max_length=20)
    overrides: tuple[Override, ...] = Field((), max_length=500)

    _zone = field_validator("timezone")(check_zone)
