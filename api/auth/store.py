"""Tokens and integration keys in the store, with a short-lived lookup cache."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from bounceback.api.auth.principal import Principal
from bounceback.api.auth.roles import Role
from bounceback.api.auth.secrets import digest, new_integration_key, new_token
from bounceback.api.clock import Clock
from bounceback.api.store.db import Database
from bounceback.api.store.tables import integrations, tokens

INTEGRATION_KINDS = ("alertmanager", "pagerduty", "generic")

# A revoked credential keeps working on *other* replicas for at most this long; the replica that
# revokes it forgets it at once. The cache keeps a database round trip off every request.
CACHE_TTL = timedelta(seconds=5)


class NameTaken(Exception):
    pass


@dataclass(frozen=True)
class CredentialRow:
    name: str
    kind: str  # a role for tokens, an integration kind for keys
    created_at: datetime
    revoked_at: datetime | None


class Credentials:
    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock
        self._cache: dict[str, tuple[datetime, Principal | None]] = {}

    async def create_token(self, name: str, role: Role) -> str:
        secret = new_token()
        await self._insert(tokens, name, {"role": role.value, "token_hash": digest(secret)})
        return secret

    async def create_integration(self, name: str, kind: str) -> str:
        if kind not in INTEGRATION_KINDS:
            raise ValueError(f"kind must be one of {', '.join(INTEGRATION_KINDS)}")
        secret = new_integration_key()
        await self._insert(integrations, name, {"kind": kind, "key_hash": digest(secret)})
        return secret

    async def _insert(self, table: sa.Table, name: str, values: dict[str, str]) -> None:
        async with self._db.transaction() as conn:
            exists = await conn.scalar(sa.select(table.c.id).where(table.c.name == name))
            if exists is not None:
                raise NameTaken(name)
            await conn.execute(
                table.insert().values(name=name, created_at=self._clock.now(), **values)
            )

    async def list_tokens(self) -> list[CredentialRow]:
        return await self._list(tokens, tokens.c.role)

    async def list_integrations(self) -> list[CredentialRow]:
        return await self._list(integrations, integrations.c.kind)

    async def _list(self, table: sa.Table, kind: sa.Column[str]) -> list[CredentialRow]:
        async with self._db.read() as conn:
            rows = await conn.execute(
                sa.select(table.c.name, kind, table.c.created_at, table.c.revoked_at).order_by(
                    table.c.id
                )
            )
            return [CredentialRow(*row) for row in rows]

    async def revoke_token(self, name: str) -> bool:
        return await self._revoke(tokens, name)

    async def revoke_integration(self, name: str) -> bool:
        return await self._revoke(integrations, name)

    async def _revoke(self, table: sa.Table, name: str) -> bool:
        async with self._db.transaction() as conn:
            result = await conn.execute(
                table.update()
                .where(table.c.name == name, table.c.revoked_at.is_(None))
                .values(revoked_at=self._clock.now())
            )
        self._cache.clear()
        return bool(result.rowcount)

    async def token(self, secret: str) -> Principal | None:
        return await self.token_by_digest(digest(secret))

    async def token_by_digest(self, hashed: str) -> Principal | None:
        """The token whose SHA-256 is ``hashed`` (dashboard sessions keep only the hash)."""
        return await self._lookup("t:", hashed, tokens, tokens.c.token_hash, tokens.c.role)

    async def integration(self, secret: str) -> Principal | None:
        return await self._lookup(
            "i:", digest(secret), integrations, integrations.c.key_hash, integrations.c.kind
        )

    async def _lookup(
        self,
        prefix: str,
        hashed: str,
        table: sa.Table,
        hash_col: sa.Column[str],
        kind_col: sa.Column[str],
    ) -> Principal | None:
        now = self._clock.now()
        cached = self._cache.get(prefix + hashed)
        if cached is not None and cached[0] > now:
            return cached[1]
        async with self._db.read() as conn:
            row = (
                await conn.execute(
                    sa.select(table.c.name, kind_col).where(
                        hash_col == hashed, table.c.revoked_at.is_(None)
                    )
                )
            ).first()
        principal: Principal | None = None
        if row is not None:
            if table is tokens:
                principal = Principal(name=row[0], role=Role(row[1]))
            else:
                principal = Principal(name=row[0], integration_kind=row[1])
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[prefix + hashed] = (now + CACHE_TTL, principal)
        return principal
