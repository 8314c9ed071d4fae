"""Steps the hub performs itself: an outbound webhook, a degradation rule, a deployment rollback.

The degradation engine plugs in through ``DegradationSwitch`` (recovery does not import it);
until one is plugged, a degradation step fails with a message that says so.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import httpx

from bounceback.api.deployment_wire import RollbackRequest
from bounceback.api.deployments import rollback
from bounceback.api.deployments.engine import Engine
from bounceback.api.recovery.models import Step, StepType


class DegradationSwitch(Protocol):
    async def activate(self, rule_id: str, *, reason: str, actor: str) -> None:
        """Activate ``rule_id`` now (idempotent); raise with a readable message if it cannot."""
        ...


# (deployment target, reason, actor) → a description of the rollback requested
Rollback = Callable[[str, str, str], Awaitable[str]]


class StepFailed(Exception):
    pass


class HubSteps:
    def __init__(
        self,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        degradation: DegradationSwitch | None = None,
        rollback: Rollback | None = None,
    ) -> None:
        self._transport = transport
        self.degradation = degradation
        self.rollback = rollback

    async def run(self, step: Step, target: str, context: dict[str, Any], key: str) -> str:
        """Perform ``step``; the message for the timeline. Raises ``StepFailed``."""
        reason = f"recovery {context['action_id']} on {context['target']}"
        actor = f"recovery:{context['attempt_id']}"
        if step.type == StepType.WEBHOOK:
            async with httpx.AsyncClient(
                transport=self._transport, timeout=step.timeout_seconds
            ) as client:
                try:
                    response = await client.post(
                        target,
                        json={**context, "parameters": step.parameters},
                        headers={"Idempotency-Key": key},
                    )
                except httpx.HTTPError as exc:
                    raise StepFailed(f"webhook {target}: {type(exc).__name__}: {exc}") from exc
            if response.status_code >= 300:
                raise StepFailed(f"webhook {target} answered {response.status_code}")
            return f"webhook {target} answered {response.status_code}"
        if step.type == StepType.DEGRADATION:
            if self.degradation is None:
                raise StepFailed("no degradation engine is plugged into recovery")
            try:
                await self.degradation.activate(target, reason=reason, actor=actor)
            except Exception as exc:
                raise StepFailed(f"degradation rule {target}: {exc}") from exc
            return f"degradation rule {target} activated"
        if step.type == StepType.DEPLOYMENT_ROLLBACK:
            if self.rollback is None:
                raise StepFailed("deployment rollback is not available")
            try:
                return await self.rollback(target, reason, actor)
            except Exception as exc:
                raise StepFailed(f"rollback of {target}: {exc}") from exc
        raise StepFailed(f"{step.type} is not a hub step")


def deployment_rollback(engine: Engine) -> Rollback:
    """The "Deployment Failure" action's hand-over to the deployment rollback endpoint's logic."""

    async def roll_back(target: str, reason: str, actor: str) -> str:
        done = await rollback.request(engine, target, RollbackRequest(reason=reason), actor)
        return f"rollback of {target} requested: tracked as deployment {done.id}"

    return roll_back
