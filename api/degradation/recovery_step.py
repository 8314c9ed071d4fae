"""The degradation side of recovery's hub step "activate a degradation rule".

Recovery calls ``activate(rule_id, reason=..., actor=...)`` through its ``DegradationSwitch``
protocol (``api/recovery/hubsteps.py``) without importing this package. The activation is a
manual one: it holds until an operator reverts it, like any activation a person or a runbook
asked for, and it is audited with the recovery attempt as the actor.
"""

from __future__ import annotations

from dataclasses import dataclass

from bounceback.api.degradation.engine import DegradationEngine


@dataclass(frozen=True)
class RecoveryDegradation:
    engine: DegradationEngine

    async def activate(self, rule_id: str, *, reason: str, actor: str) -> None:
        """Idempotent: activating an active rule keeps its start time and records who asked."""
        await self.engine.activate(rule_id, reason, actor)
