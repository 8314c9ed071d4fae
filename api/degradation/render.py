"""The degradation API's JSON documents, from rules, states and the switch (pure)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from bounceback.api.agents.desired import Switch
from bounceback.api.degradation.config import DegradationConfig, RuleConfig
from bounceback.api.degradation.evaluate import RuleState
from bounceback.api.degradation.flags import Snapshot, flag_key


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def state(value: RuleState, hold_seconds: float) -> dict[str, Any]:
    reverts_at = None
    if value.active and value.clear_since is not None:
        reverts_at = value.clear_since + timedelta(seconds=hold_seconds)
    return {
        "active": value.active,
        "mode": value.mode.value if value.mode else None,
        "since": _iso(value.since),
        "reason": value.reason,
        "actor": value.actor,
        "clear_since": _iso(value.clear_since),
        "reverts_at": _iso(reverts_at),
        "suppressed": value.suppressed,
    }


def rule(config: DegradationConfig, found: RuleConfig, value: RuleState) -> dict[str, Any]:
    return {
        **found.model_dump(mode="json", exclude={"hold_seconds"}),
        "hold_seconds": config.hold(found),
        "flags": [flag_key(action) for action in found.actions],
        "state": state(value, config.hold(found)),
    }


def rules(config: DegradationConfig, states: Mapping[str, RuleState]) -> list[dict[str, Any]]:
    return [rule(config, r, states.get(r.id, RuleState())) for r in config.rules]


def status(
    config: DegradationConfig,
    states: Mapping[str, RuleState],
    switch: Switch,
    shot: Snapshot,
    *,
    interval: float,
    events: Sequence[dict[str, Any]],
) -> dict[str, Any]:
    listed = rules(config, states)
    return {
        "enabled": switch.enabled,
        "changed_at": _iso(switch.changed_at),
        "changed_by": switch.changed_by,
        "level": shot.level.value,
        "check_interval_seconds": interval,
        "hold_seconds": config.hold_seconds,
        "active": sum(1 for item in listed if item["state"]["active"]),
        "rules": listed,
        "recent_events": list(events),
    }
