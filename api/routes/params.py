"""Query-string parameters, validated with errors that name the parameter."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import TypeVar

from starlette.requests import Request

from bounceback.api.errors import Invalid
from bounceback.api.schema import MAX_ID

E = TypeVar("E", bound=StrEnum)


def enum_param(request: Request, name: str, enum: type[E]) -> E | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    try:
        return enum(raw)
    except ValueError:
        allowed = ", ".join(member.value for member in enum)
        raise Invalid(
            f"query parameter '{name}' must be one of: {allowed}",
            [{"field": name, "message": f"got {raw!r}, expected one of: {allowed}"}],
        ) from None


# Free-text filters (a service, an actor, an action name): what the stores' columns can hold.
MAX_TEXT = 600


def _control(c: str) -> bool:
    return ord(c) < 32 or ord(c) == 127


def printable(raw: str | None, limit: int = MAX_TEXT) -> str:
    """A form field as a filter: stripped, control characters dropped, at most ``limit``
    characters (the dashboard's forms say nothing for what no one can type)."""
    return "".join(c for c in (raw or "") if not _control(c)).strip()[:limit]


def text_param(request: Request, name: str) -> str | None:
    """An optional free-text filter: at most MAX_TEXT characters, no control characters (a NUL
    cannot even be sent to PostgreSQL)."""
    raw = request.query_params.get(name)
    if not raw:
        return None
    if len(raw) > MAX_TEXT or any(_control(c) for c in raw):
        raise Invalid(
            f"query parameter '{name}' must be text of at most {MAX_TEXT} characters "
            "without control characters",
            [{"field": name, "message": f"got {len(raw)} characters: {raw[:40]!r}"}],
        )
    return raw


def time_param(request: Request, name: str) -> datetime | None:
    """An optional ISO 8601 time, in UTC when no offset is given; years 1 to 9998 in UTC, so
    that a day or a week on either side of it is still a time."""
    raw = request.query_params.get(name)
    if not raw:
        return None
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        value = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
        if not 1 < value.year < 9999:
            raise ValueError(raw)
    except (ValueError, OverflowError):
        raise Invalid(
            f"query parameter '{name}' must be an ISO 8601 time between the years 2 and 9998",
            [{"field": name, "message": f"got {raw!r}, expected e.g. 2026-01-31T12:00:00Z"}],
        ) from None
    return value


def id_param(request: Request, name: str = "id") -> int:
    raw = request.path_params[name]
    if not isinstance(raw, str) or not raw.isdigit() or len(raw) > 10 or int(raw) > MAX_ID:
        raise Invalid(
            f"path parameter '{name}' must be a positive integer up to {MAX_ID}",
            [{"field": name, "message": f"got {raw!r}"}],
        )
    return int(raw)
