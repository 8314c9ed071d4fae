"""Times and durations as the dashboard's tables show them (UTC, to the second; short spans)."""

from __future__ import annotations

from datetime import UTC, datetime


def when(at: datetime | str | None) -> str:
    """``2024-05-01 12:00:03Z``; "—" for nothing. Accepts ISO strings, as the API views hold."""
    if at is None:
        return "—"
    if isinstance(at, str):
        at = datetime.fromisoformat(at)
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def span(seconds: float | None) -> str:
    """``45s``, ``3m 05s``, ``2h 10m``, ``4d 3h``; "—" for nothing."""
    if seconds is None:
        return "—"
    whole = max(int(seconds), 0)
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"
