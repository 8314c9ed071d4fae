"""Opaque cursors for keyset pagination (newest first, by id)."""

from __future__ import annotations

import base64
import binascii

from bounceback.api.errors import Invalid
from bounceback.api.schema import MAX_ID

MAX_LIMIT = 500


def encode_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(f"id:{last_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int | None:
    if not cursor:
        return None
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        prefix, _, value = text.partition(":")
        if prefix != "id" or not value.isdigit() or len(value) > 10 or int(value) > MAX_ID:
            raise ValueError(text)
        return int(value)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise Invalid(
            "cursor is not one this hub issued", [{"field": "cursor", "message": "invalid cursor"}]
        ) from None


def parse_limit(raw: str | None, default: int = 50) -> int:
    if raw is None:
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        raise Invalid(
            f"limit must be an integer from 1 to {MAX_LIMIT}",
            [{"field": "limit", "message": f"expected 1..{MAX_LIMIT}, got {raw!r}"}],
        )
    return int(raw)
