"""The pre-deploy gate's decision: facts about the target in, every reason out. Pure.

Blocking reasons: an open critical incident of the target, an open circuit of its hosts,
degradation at or above the configured level, an active freeze window (unless overridden), a
failed deployment in the last N minutes, a health URL that does not answer 2xx. Informational
(never blocking): an overridden freeze, and deployment monitoring being off.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bounceback.api.deployment_wire import GateReason, GateReasonCode, GateResult
from bounceback.api.deployments.config import DEGRADATION_RANK, DegradationLevel
from bounceback.api.deployments.degradation import Degradation
from bounceback.api.deployments.freeze import ActiveFreeze
from bounceback.api.deployments.probes import UrlHealth


@dataclass(frozen=True)
class Override:
    id: int
    actor: str
    reason: str
    until: datetime


@dataclass(frozen=True)
class GateFacts:
    target: str
    environment: str
    now: datetime
    monitoring_enabled: bool = True
    critical_incidents: Sequence[dict[str, Any]] = ()
    open_circuits: Sequence[dict[str, Any]] = ()
    degradation: Degradation | None = None
    block_level: DegradationLevel = DegradationLevel.SEVERE
    freezes: Sequence[ActiveFreeze] = ()
    override: Override | None = None
    recent_failures: Sequence[dict[str, Any]] = ()
    recent_failure_minutes: float = 60
    health: Sequence[UrlHealth] = field(default_factory=tuple)


def decide(facts: GateFacts) -> GateResult:
    reasons = [
        *_incidents(facts),
        *_circuits(facts),
        *_degradation(facts),
        *_freezes(facts),
        *_failures(facts),
        *_health(facts),
    ]
    if not facts.monitoring_enabled:
        reasons.append(
            GateReason(
                code=GateReasonCode.MONITORING_DISABLED,
                message="deployment monitoring is off (DEPLOYMENT_MONITORING_ENABLED=false): the "
                "deployment will be recorded but not watched or judged",
                blocking=False,
            )
        )
    return GateResult(
        allowed=not any(reason.blocking for reason in reasons),
        target=facts.target,
        environment=facts.environment,
        reasons=reasons,
        checked_at=facts.now,
    )


def _incidents(facts: GateFacts) -> list[GateReason]:
    return [
        GateReason(
            code=GateReasonCode.CRITICAL_INCIDENT,
            message=f"critical incident {incident['id']} is open for {facts.target}: "
            f"{incident['summary']}; resolve it before deploying",
            details=dict(incident),
        )
        for incident in facts.critical_incidents
    ]


def _circuits(facts: GateFacts) -> list[GateReason]:
    return [
        GateReason(
            code=GateReasonCode.OPEN_CIRCUIT,
            message=f"circuit {circuit['circuit']} is open on host {circuit['host']}; wait for "
            "it to close or reset it",
            details=dict(circuit),
        )
        for circuit in facts.open_circuits
    ]


def _degradation(facts: GateFacts) -> list[GateReason]:
    found = facts.degradation
    if found is None or DEGRADATION_RANK[found.level] < DEGRADATION_RANK[facts.block_level]:
        return []
    return [
        GateReason(
            code=GateReasonCode.DEGRADED,
            message=f"{facts.target} is degraded to {found.level.value} (the gate blocks at "
            f"{facts.block_level.value} and above); deploy once it recovers",
            details={"level": found.level.value, "rules": list(found.rules)},
        )
    ]


def _freezes(facts: GateFacts) -> list[GateReason]:
    reasons = []
    for freeze in facts.freezes:
        details: dict[str, Any] = {
            "window": freeze.name,
            "started_at": freeze.started_at.isoformat(),
            "ends_at": freeze.ends_at.isoformat(),
            "timezone": freeze.timezone,
        }
        override = facts.override
        if override is not None:
            details["override"] = {
                "id": override.id,
                "actor": override.actor,
                "reason": override.reason,
                "until": override.until.isoformat(),
            }
            message = (
                f"freeze window {freeze.name!r} is active until {freeze.ends_at.isoformat()}, "
                f"overridden by {override.actor} until {override.until.isoformat()}: "
                f"{override.reason}"
            )
            reasons.append(
                GateReason(
                    code=GateReasonCode.FREEZE, message=message, blocking=False, details=details
                )
            )
            continue
        reasons.append(
            GateReason(
                code=GateReasonCode.FREEZE,
                message=f"deploy freeze {freeze.name!r} is active until "
                f"{freeze.ends_at.isoformat()}; an operator can override it with a reason "
                "(POST /api/auto-recovery/deployment/freeze/override)",
                details=details,
            )
        )
    return reasons


def _failures(facts: GateFacts) -> list[GateReason]:
    return [
        GateReason(
            code=GateReasonCode.RECENT_FAILURE,
            message=f"deployment {failure['id']} of {failure['version']} failed at "
            f"{failure['finished_at']} (within the last {facts.recent_failure_minutes:g} "
            "minutes); find out why before deploying again",
            details=dict(failure),
        )
        for failure in facts.recent_failures
    ]


def _health(facts: GateFacts) -> list[GateReason]:
    return [
        GateReason(
            code=GateReasonCode.UNHEALTHY,
            message=f"health URL {check.url} is unhealthy ({check.error}); the target must be "
            "healthy before a deploy can be judged against it",
            details={"url": check.url, "status": check.status, "error": check.error},
        )
        for check in facts.health
        if not check.healthy
    ]
