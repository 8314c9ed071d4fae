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


def time_param(request: Request, name: str) -> datetime | None:
    raw = request.query_params.get(name)
    if not raw:
        return None
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise Invalid(
            f"query parameter '{name}' must be an ISO 8601 time",
            [{"field": name, "message": f"got {raw!r}, expected e.g. 2026-01-31T12:00:00Z"}],
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def id_param(request: Request, name: str = "id") -> int:
    raw = request.path_params[name]
    if not isinstance(raw, str) or not raw.isdigit() or len(raw) > 10 or int(raw) > MAX_ID:
        raise Invalid(
            f"path parameter '{name}' must be a positive integer up to {MAX_ID}",
            [{"field": name, "message": f"got {raw!r}"}],
        )
    return int(raw)
