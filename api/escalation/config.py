"""The ``[escalation]`` section of hub.toml: people, teams, schedules, policies and the email
channel's SMTP settings. Validated at start-up, so a bad key stops the hub with its dotted path.

Objects defined here are *provisioned*: the API shows them but refuses to change them (change
them in the file). Objects created through the API live in the store.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from bounceback.api.escalation.models import Policy
from bounceback.api.oncall.models import Person, Schedule, Team


class SmtpSecurity(StrEnum):
    STARTTLS = "starttls"  # plain connection upgraded with STARTTLS (port 587)
    TLS = "tls"  # TLS from the first byte (port 465)
    NONE = "none"  # loopback relays and tests only


class SmtpConfig(BaseModel):
    """The password comes from BOUNCEBACK_SMTP_PASSWORD or ``password_file``, never the file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = Field("localhost", min_length=1, max_length=255)
    port: int = Field(587, ge=1, le=65535)
    security: SmtpSecurity = SmtpSecurity.STARTTLS
    username: str | None = Field(None, max_length=255)
    password_file: Path | None = None
    from_address: str = Field("bounceback@localhost", pattern=r"^[^@\s]+@[^@\s]+$")
    timeout_seconds: float = Field(10, gt=0, le=120)


class EscalationConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # Phone calls are the most intrusive channel: their own switch, off unless turned on.
    phone_notifications_enabled: bool = False
    # Signed acknowledge/resolve links in emails and cards: how long they work.
    link_ttl_minutes: float = Field(24 * 60, gt=0, le=30 * 24 * 60)
    # The HMAC key for those links: BOUNCEBACK_LINK_SECRET, else this file, else one the hub
    # generates and keeps in its store (shared by every replica).
    link_key_file: Path | None = None
    smtp: SmtpConfig = Field(default_factory=SmtpConfig)
    people: tuple[Person, ...] = ()
    teams: tuple[Team, ...] = ()
    schedules: tuple[Schedule, ...] = ()
    policies: tuple[Policy, ...] = ()

    @model_validator(mode="after")
    def _references_exist(self) -> EscalationConfig:
        for kind, items in (
            ("people", self.people),
            ("teams", self.teams),
            ("schedules", self.schedules),
            ("policies", self.policies),
        ):
            ids = [item.id for item in items]
            duplicates = sorted({i for i in ids if ids.count(i) > 1})
            if duplicates:
                raise ValueError(f"escalation.{kind}: duplicate id(s) {', '.join(duplicates)}")
        people = {p.id for p in self.people}
        known = {
            "person": people,
            "team": {t.id for t in self.teams},
            "schedule": {s.id for s in self.schedules},
        }
        for team in self.teams:
            for member in team.members:
                if member not in people:
                    raise ValueError(f"escalation.teams.{team.id}: unknown person {member!r}")
        for schedule in self.schedules:
            named = [p for layer in schedule.layers for p in layer.people]
            named += [o.person for o in schedule.overrides]
            for person in named:
                if person not in people:
                    raise ValueError(
                        f"escalation.schedules.{schedule.id}: unknown person {person!r}"
                    )
        for policy in self.policies:
            for level in policy.levels:
                for target in level.targets:
                    kind, _, ident = target.partition(":")
                    if ident not in known[kind]:
                        raise ValueError(
                            f"escalation.policies.{policy.id}.{level.name}: unknown {kind} "
                            f"{ident!r}"
                        )
        return self
