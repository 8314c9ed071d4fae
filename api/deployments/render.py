"""Stored deployments and judge verdicts as the wire's models."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from bounceback.api.deployment_wire import (
    Deployment,
    DeploymentKind,
    DeploymentState,
    MetricVerdict,
    Verdict,
)
from bounceback.api.deployments import verdict as judged
from bounceback.api.deployments.store import DeploymentRow


def report_url(public_url: str, deployment_id: int) -> str:
    """The dashboard's page of the deployment: its charts, verdict table and timeline."""
    return f"{public_url}/deployments/{deployment_id}"


def _finite(value: float | None) -> float | None:
    # JSON has no infinity or NaN: an unbounded interval end is shown as null.
    if value is None or math.isnan(value) or math.isinf(value):
        return None
    return value


def metric(result: judged.MetricResult) -> MetricVerdict:
    ratio = None
    if result.effect is not None and result.effect.unit == "ratio":
        ratio = result.effect.estimate
    elif result.baseline is not None and result.current is not None and result.baseline.value:
        ratio = result.current.value / result.baseline.value
    effect = result.effect
    return MetricVerdict(
        name=result.name,
        kind=result.kind.value,
        outcome=result.outcome,
        explanation=result.explanation,
        baseline=_finite(result.baseline.value) if result.baseline else None,
        current=_finite(result.current.value) if result.current else None,
        baseline_n=result.baseline.n if result.baseline else None,
        current_n=result.current.n if result.current else None,
        ratio=_finite(ratio),
        effect_lower=_finite(effect.lower) if effect else None,
        effect_upper=_finite(effect.upper) if effect else None,
        p_value=_finite(result.p_value),
        alpha=_finite(result.alpha),
        threshold=_finite(result.threshold),
    )


def verdict(result: judged.Verdict, judged_at: datetime) -> Verdict:
    return Verdict(
        outcome=result.outcome,
        look=result.look,
        max_looks=result.max_looks,
        explanation=result.explanation,
        metrics=[metric(m) for m in result.metrics],
        judged_at=judged_at,
    )


def deployment(row: DeploymentRow, public_url: str, last_good_version: str | None) -> Deployment:
    stored: dict[str, Any] | None = row.verdict
    return Deployment(
        id=row.id,
        target=row.target,
        environment=row.environment,
        version=row.version,
        previous_version=row.previous_version,
        kind=DeploymentKind(row.kind),
        rolls_back=row.rolls_back,
        rolled_back_by=row.rolled_back_by,
        state=DeploymentState(row.state),
        dry_run=row.dry_run,
        repository=row.repository,
        github_deployment_id=row.github_deployment_id,
        run_url=row.run_url,
        actor=row.actor,
        created_at=row.created_at,
        deployed_at=row.deployed_at,
        finished_at=row.finished_at,
        stabilization_minutes=row.stabilization_minutes,
        monitoring_minutes=row.monitoring_minutes,
        rollback_requested=row.rollback_requested,
        last_good_version=last_good_version,
        verdict=Verdict.model_validate(stored) if stored else None,
        report_url=report_url(public_url, row.id),
    )
