"""What the hub needs of a report beyond the wire model, and making its values storable.

The wire model (``api/agent_wire.py``) is shared with the agent and stays lenient; the hub adds
the limits its store needs (identifier lengths, sequence numbers that fit a BIGINT, a sane
interval) and reports each violation with the field it concerns. Values that cannot be stored but
say nothing wrong about the agent (NaN readings, NUL characters, times without a zone) are
normalised instead of refused: refusing them would block the agent's spool for good.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from bounceback.api.agent_wire import (
    AgentReport,
    BreakerEvent,
    BreakerStatus,
    HealingEvent,
    LossEvent,
)

MAX_SEQ = 2**63 - 1
MAX_INTERVAL_SECONDS = 86_400.0
NAME_LIMITS = {"dependency": 200, "kind": 64, "attempt_id": 200, "action": 200, "type": 64}


def _name_problems(prefix: str, values: dict[str, str]) -> Iterator[dict[str, str]]:
    for name, value in values.items():
        limit = NAME_LIMITS[name]
        if not value or len(value) > limit:
            yield {"field": f"{prefix}.{name}", "message": f"must be 1 to {limit} characters"}
        elif name == "dependency" and "/" in value:
            # A circuit is addressed as <agent>:<dependency> in one URL path segment.
            yield {"field": f"{prefix}.{name}", "message": "must not contain '/'"}


def _breaker_problems(prefix: str, status: BreakerStatus) -> Iterator[dict[str, str]]:
    yield from _name_problems(prefix, {"dependency": status.dependency, "kind": status.kind})
    for name in ("failures", "successes"):
        if not 0 <= getattr(status, name) <= MAX_SEQ:
            yield {"field": f"{prefix}.{name}", "message": f"must be from 0 to {MAX_SEQ}"}


def problems(report: AgentReport) -> list[dict[str, str]]:
    """Every reason the hub cannot store ``report``, each naming its field."""
    found: list[dict[str, str]] = []
    if not math.isfinite(report.interval_seconds) or (
        report.interval_seconds > MAX_INTERVAL_SECONDS
    ):
        found.append(
            {
                "field": "interval_seconds",
                "message": f"must be a number of seconds up to {MAX_INTERVAL_SECONDS:.0f}",
            }
        )
    for index, action in enumerate(report.actions):
        if not action or len(action) > NAME_LIMITS["action"]:
            found.append({"field": f"actions[{index}]", "message": "must be 1 to 200 characters"})
    for index, status in enumerate(report.breakers):
        found.extend(_breaker_problems(f"breakers[{index}]", status))
    for index, event in enumerate(report.events):
        prefix = f"events[{index}]"
        if event.seq > MAX_SEQ:
            found.append({"field": f"{prefix}.seq", "message": f"must be at most {MAX_SEQ}"})
        if isinstance(event, LossEvent) and event.dropped > MAX_SEQ:
            found.append({"field": f"{prefix}.dropped", "message": f"must be at most {MAX_SEQ}"})
        elif isinstance(event, BreakerEvent):
            found.extend(_breaker_problems(f"{prefix}.status", event.status))
        elif isinstance(event, HealingEvent):
            attempt = event.attempt
            found.extend(
                _name_problems(
                    f"{prefix}.attempt",
                    {
                        "attempt_id": attempt.attempt_id,
                        "action": attempt.action,
                        "type": attempt.type,
                    },
                )
            )
    return found


def utc(value: datetime) -> datetime:
    """Times without a zone are taken as UTC (the protocol's zone)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def clean(value: Any) -> Any:
    """A copy of ``value`` that both stores accept: no NUL characters, no NaN or infinities
    (they become null), zone-aware times."""
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, datetime):
        return utc(value)
    if isinstance(value, dict):
        return {clean(key): clean(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [clean(item) for item in value]
    return value


def jsonable(value: Any) -> Any:
    """``clean(value)`` with times as ISO 8601 strings, for JSON columns (in one pass: every
    report goes through it)."""
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, datetime):
        return utc(value).isoformat()
    if isinstance(value, dict):
        return {clean(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(item) for item in value]
    return value
