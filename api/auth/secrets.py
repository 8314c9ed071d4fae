"""Bearer tokens and integration keys: generated once, stored only as hashes."""

from __future__ import annotations

import hashlib
import secrets

TOKEN_PREFIX = "bbt_"  # noqa: S105 - a prefix, not a secret


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def new_integration_key() -> str:
    # 32 hexadecimal characters: the shape of a PagerDuty routing key, which some senders check.
    return secrets.token_hex(16)


def digest(secret: str) -> str:
    # The secrets are 128+ random bits, so a fast hash is enough: there is nothing to brute-force.
    return hashlib.sha256(secret.encode()).hexdigest()
