"""Creating, changing and deleting people, teams, schedules and policies through the API.

Provisioned objects (hub.toml) are read-only here. Every write checks that what it names exists
(a policy's targets, a team's members, a schedule's people), every delete that nothing still
names the object, and each is audited. Running escalations are not affected: they follow the
snapshot of their policy.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncConnection

from bounceback.api import audit
from bounceback.api.clock import Clock
from bounceback.api.errors import Conflict, Invalid, NotFound
from bounceback.api.escalation.directory import Directories, Directory, Kind
from bounceback.api.escalation.models import Policy
from bounceback.api.oncall.models import Schedule, Team
from bounceback.api.store.db import Database
from bounceback.api.store.tables import escalation_objects as objects


def references(model: BaseModel) -> list[tuple[str, Kind, str]]:
    """(field, kind, id) for everything ``model`` names."""
    found: list[tuple[str, Kind, str]] = []
    if isinstance(model, Team):
        found += [(f"members[{i}]", Kind.PERSON, m) for i, m in enumerate(model.members)]
    elif isinstance(model, Schedule):
        for li, layer in enumerate(model.layers):
            found += [
                (f"layers[{li}].people[{i}]", Kind.PERSON, p) for i, p in enumerate(layer.people)
            ]
        found += [
            (f"overrides[{i}].person", Kind.PERSON, o.person) for i, o in enumerate(model.overrides)
        ]
    elif isinstance(model, Policy):
        for li, level in enumerate(model.levels):
            for ti, target in enumerate(level.targets):
                kind, _, ident = target.partition(":")
                found.append((f"levels[{li}].targets[{ti}]", Kind(kind), ident))
    return found


def _users(directory: Directory, kind: Kind, ident: str) -> list[str]:
    users = []
    for of in (Kind.TEAM, Kind.SCHEDULE, Kind.POLICY):
        for other in directory.of(of).values():
            if any((k, i) == (kind, ident) for _, k, i in references(other)):
                users.append(f"{of.value} {other.id}")
    return users


class ObjectStore:
    def __init__(self, db: Database, clock: Clock, directories: Directories) -> None:
        self._db = db
        self._clock = clock
        self._directories = directories

    async def directory(self) -> Directory:
        async with self._db.read() as conn:
            return await self._directories.load(conn)

    async def put(self, kind: Kind, model: BaseModel, actor: str, *, create: bool) -> None:
        ident = str(getattr(model, "id"))  # noqa: B009 - every object model has an id
        now = self._clock.now()
        async with self._db.transaction() as conn:
            directory = await self._directories.load(conn)
            exists = ident in directory.of(kind)
            self._check_writable(directory, kind, ident)
            if create and exists:
                raise Conflict(f"{kind.value} {ident!r} exists already; PUT changes it")
            if not create and not exists:
                raise NotFound(f"no {kind.value} {ident!r}; POST creates one")
            for field, ref_kind, ref in references(model):
                if ref not in directory.of(ref_kind):
                    raise Invalid(
                        f"invalid field '{field}': no {ref_kind.value} {ref!r}",
                        [{"field": field, "message": f"no {ref_kind.value} {ref!r}"}],
                    )
            await self._write(conn, kind, ident, model.model_dump(mode="json"), actor, now)
            await audit.record(
                conn,
                at=now,
                actor=actor,
                action=f"oncall.{kind.value}.{'create' if create else 'update'}",
                target=f"{kind.value}:{ident}",
            )

    async def delete(self, kind: Kind, ident: str, actor: str) -> None:
        now = self._clock.now()
        async with self._db.transaction() as conn:
            directory = await self._directories.load(conn)
            if ident not in directory.of(kind):
                raise NotFound(f"no {kind.value} {ident!r}")
            self._check_writable(directory, kind, ident)
            users = _users(directory, kind, ident)
            if users:
                raise Conflict(
                    f"{kind.value} {ident!r} is still named by {', '.join(users)}",
                    {"used_by": users},
                )
            where = sa.and_(objects.c.kind == kind.value, objects.c.id == ident)
            await conn.execute(objects.delete().where(where))
            await audit.record(
                conn,
                at=now,
                actor=actor,
                action=f"oncall.{kind.value}.delete",
                target=f"{kind.value}:{ident}",
            )

    @staticmethod
    def _check_writable(directory: Directory, kind: Kind, ident: str) -> None:
        if (kind, ident) in directory.provisioned:
            raise Conflict(
                f"{kind.value} {ident!r} is defined in hub.toml ([escalation]); change it there",
                {"provisioned": True},
            )

    @staticmethod
    async def _write(
        conn: AsyncConnection,
        kind: Kind,
        ident: str,
        document: dict[str, Any],
        actor: str,
        now: datetime,
    ) -> None:
        highest = await conn.scalar(sa.select(sa.func.max(objects.c.revision)))
        where = sa.and_(objects.c.kind == kind.value, objects.c.id == ident)
        await conn.execute(objects.delete().where(where))
        await conn.execute(
            objects.insert().values(
                kind=kind.value,
                id=ident,
                document=document,
                revision=(highest or 0) + 1,
                updated_at=now,
                updated_by=actor,
            )
        )
