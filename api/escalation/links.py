"""Signed one-click links to acknowledge or resolve an incident from an email (or a card).

A link carries its claim (incident, action, person, expiry, nonce) and an HMAC-SHA256 of it
under the hub's link secret; nothing is stored when a link is made. Opening it (GET) only shows
a confirmation page, because mail scanners and link previews fetch every URL in a message; the
page's button POSTs, which acts once: the nonce goes into ``used_link_nonces`` in the same
transaction as the acknowledgement, so a second POST (or a replica racing the first) is refused.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from bounceback.api.auth import sealed
from bounceback.api.store.tables import escalation_objects, used_link_nonces

SECRET_ENV = "BOUNCEBACK_LINK_SECRET"  # noqa: S105 - the name of a variable
_CONTEXT = b"bounceback-link-v1."
_STORED_SECRET = ("secret", "link")


class LinkAction(StrEnum):
    ACKNOWLEDGE = "acknowledge"
    RESOLVE = "resolve"


@dataclass(frozen=True)
class LinkClaim:
    incident_id: int
    action: LinkAction
    person_id: str
    expires_at: datetime
    nonce: str


class LinkError(Exception):
    """Why a link does not work, said so that the person knows what to do instead."""


def sign(
    secret: bytes,
    incident_id: int,
    action: LinkAction,
    person_id: str,
    *,
    now: datetime,
    ttl: timedelta,
) -> str:
    claim = {
        "i": incident_id,
        "a": action.value,
        "p": person_id,
        "e": int((now + ttl).timestamp()),
        "n": secrets.token_urlsafe(12),
    }
    return sealed.seal(secret, _CONTEXT, claim)


def verify(secret: bytes, token: str, now: datetime) -> LinkClaim:
    try:
        raw = sealed.unseal(secret, _CONTEXT, token)
        claim = LinkClaim(
            incident_id=int(raw["i"]),
            action=LinkAction(raw["a"]),
            person_id=str(raw["p"]),
            expires_at=datetime.fromtimestamp(int(raw["e"]), UTC),
            nonce=str(raw["n"]),
        )
    except sealed.BadSeal:
        raise LinkError("this link is not valid (it was changed or cut short)") from None
    except (ValueError, KeyError, TypeError):
        raise LinkError("this link is not valid") from None
    if now >= claim.expires_at:
        raise LinkError(
            f"this link expired at {claim.expires_at.isoformat()}; use the dashboard or the API"
        )
    return claim


async def consume(conn: AsyncConnection, claim: LinkClaim, now: datetime) -> bool:
    """Mark the link used, in the caller's transaction; False when it was used already."""
    await conn.execute(used_link_nonces.delete().where(used_link_nonces.c.expires_at < now))
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    result = await conn.execute(
        insert(used_link_nonces)
        .values(nonce=claim.nonce, used_at=now, expires_at=claim.expires_at)
        .on_conflict_do_nothing(index_elements=["nonce"])
    )
    return bool(result.rowcount)


async def load_secret(
    conn: AsyncConnection, secret_file: Path | None, now: datetime, environ: dict[str, str]
) -> bytes:
    """BOUNCEBACK_LINK_SECRET, else ``secret_file``, else the store's (made on first use, so
    every replica on the store signs and checks with the same key)."""
    if environ.get(SECRET_ENV):
        return environ[SECRET_ENV].encode()
    if secret_file is not None:
        return secret_file.read_bytes().strip()  # noqa: ASYNC240 - once, a few bytes
    kind, ident = _STORED_SECRET
    where = sa.and_(escalation_objects.c.kind == kind, escalation_objects.c.id == ident)
    found = await conn.scalar(sa.select(escalation_objects.c.document).where(where))
    if found is None:
        insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
        await conn.execute(
            insert(escalation_objects)
            .values(
                kind=kind,
                id=ident,
                document={"secret": secrets.token_urlsafe(32)},
                revision=0,
                updated_at=now,
                updated_by="hub",
            )
            .on_conflict_do_nothing(index_elements=["kind", "id"])
        )
        found = await conn.scalar(sa.select(escalation_objects.c.document).where(where))
    assert isinstance(found, dict)
    return str(found["secret"]).encode()


def environment() -> dict[str, str]:
    return dict(os.environ)
