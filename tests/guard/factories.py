"""Wire values for guard tests: a deployment, a verdict, a gate result."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bounceback.api.deployment_wire import (
    Deployment,
    DeploymentDetail,
    DeploymentKind,
    DeploymentState,
    MetricVerdict,
    TimelineEntry,
    Verdict,
    VerdictOutcome,
)

AT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def metric(
    name: str = "error_rate", outcome: VerdictOutcome = VerdictOutcome.PASS, **extra: Any
) -> MetricVerdict:
    values: dict[str, Any] = {
        "name": name,
        "kind": "rate",
        "outcome": outcome,
        "explanation": f"{name} judged {outcome.value}",
        "baseline": 0.01,
        "current": 0.012,
        "baseline_n": 600,
        "current_n": 590,
        "ratio": 1.2,
        "p_value": 0.3,
        "alpha": 0.0025,
        "threshold": 1.5,
    }
    values.update(extra)
    return MetricVerdict(**values)


def verdict(outcome: VerdictOutcome, *metrics: MetricVerdict) -> Verdict:
    return Verdict(
        outcome=outcome,
        look=3,
        max_looks=4,
        explanation=f"overall {outcome.value}",
        metrics=list(metrics),
        judged_at=AT,
    )


def deployment(**overrides: Any) -> Deployment:
    values: dict[str, Any] = {
        "id": 7,
        "target": "checkout",
        "environment": "production",
        "version": "v2",
        "previous_version": "v1",
        "kind": DeploymentKind.DEPLOY,
        "rolls_back": None,
        "rolled_back_by": None,
        "state": DeploymentState.MONITORING,
        "dry_run": False,
        "repository": "octo/app",
        "github_deployment_id": None,
        "run_url": None,
        "actor": "guard",
        "created_at": AT,
        "deployed_at": AT,
        "finished_at": None,
        "stabilization_minutes": 15.0,
        "monitoring_minutes": 60.0,
        "rollback_requested": False,
        "last_good_version": "v1",
        "verdict": None,
        "report_url": "http://hub.test/deployments/7",
    }
    values.update(overrides)
    return Deployment(**values)


def detail(d: Deployment, *timeline: TimelineEntry) -> DeploymentDetail:
    return DeploymentDetail(deployment=d, baseline={}, timeline=list(timeline))


def entry(kind: str, message: str) -> TimelineEntry:
    return TimelineEntry(at=AT, kind=kind, message=message)
