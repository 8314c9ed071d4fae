"""The flags applications read: a pure function from the rules, their states and the switch to
a snapshot of flag values, and the snapshot's ETag.

``degradation.level`` is the highest level of the active rules (the fleet's);
``degradation.<service>.level`` the highest of the rules for that service or the whole fleet.
Each action is a flag (see ``config.Action``); when several active rules set the same flag, the
rule at the highest level wins, then the first in the configuration. A flag no active rule sets
has its normal value: the value the application's code should use as its default too, so an
application that cannot reach the hub behaves as in normal operation.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from bounceback.api.degradation.config import Action, FlagValue, RuleConfig
from bounceback.api.degradation.evaluate import RuleState
from bounceback.api.deployments.config import DEGRADATION_RANK, DegradationLevel

LEVEL_FLAG = "degradation.level"


class Reason(StrEnum):
    """OpenFeature resolution reasons, as OFREP carries them."""

    DEFAULT = "DEFAULT"  # no active rule sets it: its normal value
    TARGETING_MATCH = "TARGETING_MATCH"  # an active rule sets it
    DISABLED = "DISABLED"  # degradation is switched off: normal values everywhere


@dataclass(frozen=True)
class Flag:
    key: str
    value: FlagValue
    variant: str
    reason: Reason
    metadata: Mapping[str, str | int | float | bool] = field(default_factory=dict)

    def wire(self) -> dict[str, object]:
        """The OFREP evaluation success shape."""
        return {
            "key": self.key,
            "value": self.value,
            "reason": self.reason.value,
            "variant": self.variant,
            "metadata": dict(self.metadata),
        }


@dataclass(frozen=True)
class Snapshot:
    enabled: bool
    level: DegradationLevel
    flags: Mapping[str, Flag]
    etag: str

    def values(self) -> dict[str, FlagValue]:
        return {key: flag.value for key, flag in self.flags.items()}


def flag_key(action: Action) -> str:
    prefix, suffix = {
        "disable_feature": ("feature.", ".enabled"),
        "cached_content": ("cache.", ".serve_stale"),
        "reduce_functionality": ("feature.", ".mode"),
        "rate_limit": ("ratelimit.", ".rps"),
        "redirect": ("redirect.", ".target"),
        "flag": ("", ""),
    }[action.type]
    return f"{prefix}{action.name}{suffix}"


def normal_value(action: Action) -> FlagValue:
    defaults: dict[str, FlagValue] = {
        "disable_feature": True,
        "cached_content": False,
        "reduce_functionality": "full",
        "rate_limit": 0,
        "redirect": "",
    }
    if action.type == "flag":
        assert action.default is not None
        return action.default
    return defaults[action.type]


def degraded_value(action: Action) -> FlagValue:
    if action.type == "disable_feature":
        return False
    if action.type == "cached_content":
        return True
    assert action.value is not None
    return action.value


def highest(levels: Sequence[DegradationLevel]) -> DegradationLevel:
    return max(levels, key=DEGRADATION_RANK.__getitem__, default=DegradationLevel.NORMAL)


def _level_flag(key: str, rules: Sequence[RuleConfig], enabled: bool) -> Flag:
    if not enabled:
        return Flag(key, DegradationLevel.NORMAL.value, "normal", Reason.DISABLED)
    level = highest([rule.level for rule in rules])
    if level == DegradationLevel.NORMAL:
        return Flag(key, level.value, level.value, Reason.DEFAULT)
    metadata = {"rules": ",".join(rule.id for rule in rules if rule.level == level)}
    return Flag(key, level.value, level.value, Reason.TARGETING_MATCH, metadata)


def snapshot(
    rules: Sequence[RuleConfig], states: Mapping[str, RuleState], *, enabled: bool
) -> Snapshot:
    active = [rule for rule in rules if states.get(rule.id, RuleState()).active]
    flags: dict[str, Flag] = {LEVEL_FLAG: _level_flag(LEVEL_FLAG, active, enabled)}
    for service in sorted({rule.service for rule in rules if rule.service is not None}):
        key = f"degradation.{service}.level"
        scoped = [rule for rule in active if rule.service in (None, service)]
        flags[key] = _level_flag(key, scoped, enabled)
    # The winner per flag: highest level first, then configuration order.
    ranked = sorted(active, key=lambda rule: -DEGRADATION_RANK[rule.level])
    for rule in rules:
        for action in rule.actions:
            key = flag_key(action)
            if key in flags:
                continue
            winner = next((r for r in ranked if any(flag_key(a) == key for a in r.actions)), None)
            if winner is None or not enabled:
                reason = Reason.DEFAULT if enabled else Reason.DISABLED
                flags[key] = Flag(key, normal_value(action), "normal", reason)
                continue
            chosen = next(a for a in winner.actions if flag_key(a) == key)
            metadata = {"rule": winner.id, "level": winner.level.value}
            flags[key] = Flag(
                key, degraded_value(chosen), "degraded", Reason.TARGETING_MATCH, metadata
            )
    level = DegradationLevel(str(flags[LEVEL_FLAG].value))
    return Snapshot(enabled, level, flags, etag_of(flags))


def etag_of(flags: Mapping[str, Flag]) -> str:
    document = json.dumps(
        [flags[key].wire() for key in sorted(flags)], sort_keys=True, separators=(",", ":")
    )
    return '"' + hashlib.sha256(document.encode()).hexdigest()[:32] + '"'


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """RFC 9110 If-None-Match: a list of (possibly weak) tags, or ``*``."""
    if not if_none_match:
        return False
    tags = [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
    return "*" in tags or etag in tags
