"""Everyone and everything escalation can name: people, teams, schedules and policies, from
hub.toml (provisioned, read-only through the API) and from the store (managed through the API).

``Directories`` caches the merged view per process and reloads it when the store's objects
changed (their count and highest revision), which one cheap query tells.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncConnection

from bounceback.api.clock import Clock
from bounceback.api.escalation.config import EscalationConfig
from bounceback.api.escalation.models import Policy
from bounceback.api.oncall.models import Person, Schedule, Team
from bounceback.api.oncall.rotation import on_call
from bounceback.api.store.db import Database
from bounceback.api.store.tables import escalation_objects as objects

log = logging.getLogger("bounceback.escalation")


class Kind(StrEnum):
    PERSON = "person"
    TEAM = "team"
    SCHEDULE = "schedule"
    POLICY = "policy"


MODELS: dict[Kind, type[BaseModel]] = {
    Kind.PERSON: Person,
    Kind.TEAM: Team,
    Kind.SCHEDULE: Schedule,
    Kind.POLICY: Policy,
}


@dataclass(frozen=True)
class Directory:
    people: dict[str, Person] = field(default_factory=dict)
    teams: dict[str, Team] = field(default_factory=dict)
    schedules: dict[str, Schedule] = field(default_factory=dict)
    policies: dict[str, Policy] = field(default_factory=dict)
    provisioned: frozenset[tuple[Kind, str]] = frozenset()

    def of(self, kind: Kind) -> dict[str, Any]:
        tables: dict[Kind, dict[str, Any]] = {
            Kind.PERSON: self.people,
            Kind.TEAM: self.teams,
            Kind.SCHEDULE: self.schedules,
            Kind.POLICY: self.policies,
        }
        return tables[kind]

    def resolve(self, targets: tuple[str, ...], at: datetime) -> list[Person]:
        """The people a level's targets name at ``at``: each once, in the targets' order.
        Targets that no longer exist are skipped (the caller notes who could not be found)."""
        found: dict[str, Person] = {}
        for target in targets:
            kind, _, ident = target.partition(":")
            names: tuple[str, ...] = ()
            if kind == "person":
                names = (ident,)
            elif kind == "team" and ident in self.teams:
                names = self.teams[ident].members
            elif kind == "schedule" and ident in self.schedules:
                shift = on_call(self.schedules[ident], at)
                names = (shift.person,) if shift else ()
            for name in names:
                if name in self.people:
                    found.setdefault(name, self.people[name])
        return list(found.values())


def build(config: EscalationConfig, rows: list[tuple[str, str, dict[str, Any]]]) -> Directory:
    people = {p.id: p for p in config.people}
    teams = {t.id: t for t in config.teams}
    schedules = {s.id: s for s in config.schedules}
    policies = {p.id: p for p in config.policies}
    provisioned = {(Kind.PERSON, i) for i in people}
    provisioned |= {(Kind.TEAM, i) for i in teams}
    provisioned |= {(Kind.SCHEDULE, i) for i in schedules}
    provisioned |= {(Kind.POLICY, i) for i in policies}
    directory = Directory(people, teams, schedules, policies, frozenset(provisioned))
    for kind_name, ident, document in rows:
        if kind_name not in Kind.__members__.values():
            continue  # the link secret and other private rows
        kind = Kind(kind_name)
        if (kind, ident) not in provisioned:
            directory.of(kind)[ident] = MODELS[kind].model_validate(document)
    return directory


_SIGNATURE = sa.select(sa.func.count(), sa.func.max(objects.c.revision))


REFRESH = timedelta(seconds=10)


class Directories:
    def __init__(self, config: EscalationConfig) -> None:
        self._config = config
        self._cached: tuple[tuple[int, int | None], Directory] | None = None
        # Whether any policy exists, as last seen: alert intake hands incidents to escalation
        # only then (no work per batch on a hub that has no escalation set up). Kept fresh by
        # every load and by ``keep_fresh`` (policies created on another replica).
        self.has_policies = bool(config.policies)

    @property
    def config(self) -> EscalationConfig:
        return self._config

    async def load(self, conn: AsyncConnection) -> Directory:
        count, highest = (await conn.execute(_SIGNATURE)).one()
        signature = (int(count), highest)
        if self._cached is not None and self._cached[0] == signature:
            return self._cached[1]
        rows = await conn.execute(sa.select(objects.c.kind, objects.c.id, objects.c.document))
        directory = build(self._config, [(r.kind, r.id, r.document) for r in rows])
        self._cached = (signature, directory)
        self.has_policies = bool(directory.policies)
        return directory

    async def keep_fresh(self, db: Database, clock: Clock, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                async with db.read() as conn:
                    await self.load(conn)
            except Exception:
                log.exception("reading the escalation directory failed; trying again")
            await clock.sleep_until(clock.now() + REFRESH, stop)
