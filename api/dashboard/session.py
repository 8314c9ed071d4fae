"""Dashboard sessions: a signed cookie naming the token it was opened with, and CSRF tokens.

Signing in with a token opens a session; the cookie carries the token's hash (never the token),
its role, an expiry and a random session id, with an HMAC-SHA256 over all of it under a key
derived from the hub's link secret (the same on every replica). Every request checks the token
is still valid, so revoking the token ends its sessions. The CSRF token of a session is an HMAC
of its id: forms carry it in a hidden field and every POST must present it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bounceback.api.auth import sealed
from bounceback.api.auth.roles import Role

COOKIE = "bb_session"
CSRF_FIELD = "csrf"
_SESSION = b"bounceback-dashboard-session-v1."
_CSRF = b"bounceback-dashboard-csrf-v1."
DASHBOARD_ROLES = (Role.VIEWER, Role.OPERATOR, Role.ADMIN)


@dataclass(frozen=True)
class Session:
    token_hash: str
    name: str
    role: Role
    expires_at: datetime
    sid: str


class InvalidSession(Exception):
    pass


def session_key(link_secret: bytes) -> bytes:
    """A key for sessions only: a leaked session MAC says nothing about link signatures."""
    return hmac.new(link_secret, b"dashboard-session-key", hashlib.sha256).digest()


def open_session(
    key: bytes, token_hash: str, name: str, role: Role, *, now: datetime, ttl: timedelta
) -> tuple[Session, str]:
    session = Session(token_hash, name, role, now + ttl, secrets.token_urlsafe(16))
    claim = {
        "h": token_hash,
        "n": name,
        "r": role.value,
        "e": int(session.expires_at.timestamp()),
        "s": session.sid,
    }
    return session, sealed.seal(key, _SESSION, claim)


def read_session(key: bytes, cookie: str, now: datetime) -> Session:
    try:
        raw = sealed.unseal(key, _SESSION, cookie)
        session = Session(
            token_hash=str(raw["h"]),
            name=str(raw["n"]),
            role=Role(raw["r"]),
            expires_at=datetime.fromtimestamp(int(raw["e"]), UTC),
            sid=str(raw["s"]),
        )
    except (sealed.BadSeal, ValueError, KeyError, TypeError):
        raise InvalidSession("the session cookie is not valid") from None
    if session.role not in DASHBOARD_ROLES:
        raise InvalidSession("the session's role cannot use the dashboard")
    if now >= session.expires_at:
        raise InvalidSession("the session has expired; sign in again")
    return session


def csrf_token(key: bytes, session: Session) -> str:
    return sealed.mac(key, _CSRF, session.sid)


def csrf_valid(key: bytes, session: Session, presented: str | None) -> bool:
    return presented is not None and hmac.compare_digest(presented, csrf_token(key, session))
