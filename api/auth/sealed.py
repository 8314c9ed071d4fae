"""Sealed claims: a small JSON object and an HMAC-SHA256 over it, as ``payload.mac`` in
base64url, for links and cookies the hub hands out and later checks without storing them.
The context names what the seal is for, so one kind can never pass for another."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any


class BadSeal(Exception):
    """The MAC does not match: the token was changed, cut short or made with another key."""


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def mac(key: bytes, context: bytes, text: str) -> str:
    return b64(hmac.new(key, context + text.encode(), hashlib.sha256).digest())


def seal(key: bytes, context: bytes, claim: Mapping[str, Any]) -> str:
    payload = b64(json.dumps(claim, separators=(",", ":")).encode())
    return f"{payload}.{mac(key, context, payload)}"


def unseal(key: bytes, context: bytes, token: str) -> Any:
    """The claim; BadSeal when the MAC does not match, ValueError when it is not JSON."""
    payload, dot, found = token.partition(".")
    if not dot or not hmac.compare_digest(found, mac(key, context, payload)):
        raise BadSeal
    return json.loads(unb64(payload))
