"""Escalation policies as configured (hub.toml ``[escalation]``) or sent to the API, and the
snapshot an incident keeps of its policy. Pydantic only; the stepping is in ``engine``."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from bounceback.api.oncall.models import ChannelName, Slug
from bounceback.api.schema import SEVERITY_RANK, Severity

# The seed's levels, in order; their default timeouts are L1_TIMEOUT_MINUTES … L5_TIMEOUT_MINUTES.
SEED_LEVELS = ("L1", "L2", "L3", "L4", "L5")
SEED_ROLES = ("monitoring", "support", "engineering", "management", "executive")
Target = Annotated[str, Field(pattern=r"^(person|team|schedule):[a-z0-9][a-z0-9_.-]{0,63}$")]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Level(_Model):
    """Who is paged at this level, how, and how long they have before the next level.

    ``timeout_minutes`` defaults to the seed's setting for L1..L5 (by position); a sixth level
    or beyond needs one. ``channels`` restricts and orders each person's own preference;
    ``severity_channels`` does the same per incident severity (it wins over ``channels``)."""

    name: str = Field(min_length=1, max_length=50)
    timeout_minutes: float | None = Field(None, gt=0, le=7 * 24 * 60)
    targets: tuple[Target, ...] = ()
    channels: tuple[ChannelName, ...] | None = None
    severity_channels: dict[Severity, tuple[ChannelName, ...]] = Field(default_factory=dict)


class Route(_Model):
    """Which incidents a policy takes: every given condition must hold (none given: all)."""

    labels: dict[str, str] = Field(default_factory=dict)
    services: tuple[str, ...] = ()
    severities: tuple[Severity, ...] = ()
    min_severity: Severity | None = None


def _seed_levels() -> tuple[Level, ...]:
    return tuple(Level(name=name) for name in SEED_LEVELS)


class Policy(_Model):
    """Policies are tried in order of ``priority`` (lower first, then id); the first whose route
    matches takes the incident. ``repeat`` pages the last level again that many times (each
    after its timeout), or until someone acknowledges."""

    id: Slug
    name: str = Field(min_length=1, max_length=200)
    priority: int = Field(100, ge=0, le=10_000)
    route: Route = Field(default_factory=Route)
    levels: tuple[Level, ...] = Field(default_factory=_seed_levels, min_length=1, max_length=20)
    repeat: int | Literal["until_acknowledged"] = 0
    # Phone calls only for incidents at least this severe (the seed: critical incidents only).
    phone_min_severity: Severity = Severity.CRITICAL

    @field_validator("repeat")
    @classmethod
    def _bounded(cls, value: int | str) -> int | str:
        if isinstance(value, int) and not 0 <= value <= 100:
            raise ValueError("'repeat' must be between 0 and 100, or 'until_acknowledged'")
        return value

    @field_validator("levels")
    @classmethod
    def _timeouts_known(cls, levels: tuple[Level, ...]) -> tuple[Level, ...]:
        for index, level in enumerate(levels):
            if index >= len(SEED_LEVELS) and level.timeout_minutes is None:
                raise ValueError(f"level {index + 1} ({level.name}) needs 'timeout_minutes'")
        return levels


def matches(route: Route, severity: Severity, service: str | None, labels: dict[str, str]) -> bool:
    if route.services and service not in route.services:
        return False
    if route.severities and severity not in route.severities:
        return False
    if route.min_severity and SEVERITY_RANK[severity] < SEVERITY_RANK[route.min_severity]:
        return False
    return all(labels.get(key) == value for key, value in route.labels.items())


def route_incident(
    policies: list[Policy], severity: Severity, service: str | None, labels: dict[str, str]
) -> Policy | None:
    for policy in sorted(policies, key=lambda p: (p.priority, p.id)):
        if matches(policy.route, severity, service, labels):
            return policy
    return None


class LevelSnapshot(_Model):
    name: str
    timeout_seconds: float
    targets: tuple[str, ...]
    channels: tuple[str, ...] | None


class PolicySnapshot(_Model):
    """What a running escalation follows: concrete timeouts and the channels for its severity,
    so that later edits of the policy or the settings do not change it."""

    policy_id: str
    policy_name: str
    levels: tuple[LevelSnapshot, ...]
    repeat: int | Literal["until_acknowledged"]
    allow_phone: bool


def snapshot(policy: Policy, severity: Severity, seed_minutes: tuple[float, ...]) -> PolicySnapshot:
    levels = []
    for index, level in enumerate(policy.levels):
        minutes = level.timeout_minutes
        if minutes is None:
            minutes = seed_minutes[index]
        channels = level.severity_channels.get(severity, level.channels)
        levels.append(
            LevelSnapshot(
                name=level.name,
                timeout_seconds=minutes * 60,
                targets=level.targets,
                channels=channels,
            )
        )
    allow_phone = SEVERITY_RANK[severity] >= SEVERITY_RANK[policy.phone_min_severity]
    return PolicySnapshot(
        policy_id=policy.id,
        policy_name=policy.name,
        levels=tuple(levels),
        repeat=policy.repeat,
        allow_phone=allow_phone,
    )
