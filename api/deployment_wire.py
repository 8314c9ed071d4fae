"""The guard ↔ hub protocol for deployments. Pydantic only: the guard imports this module.

Paths (all under ``/api/auto-recovery/deployment``; the seed's eight plus the guard's four):

=======  ==============================  ==========================  ===========================
method   path                            body → answer               role
=======  ==============================  ==========================  ===========================
GET      /status                         → DeploymentStatus          viewer
GET      /active                         → Page[Deployment]          viewer
GET      /history?limit=&cursor=&target= → Page[Deployment]          viewer
         &environment=&state=
GET      /{id}                           → DeploymentDetail          viewer (guard: own target)
POST     /track                          TrackRequest → Deployment   guard or operator (201)
POST     /{target}/rollback              RollbackRequest →           guard or operator
                                         Deployment (the rollback)
POST     /auto-rollback/enable           → DeploymentStatus          admin
POST     /auto-rollback/disable          → DeploymentStatus          admin
POST     /gate                           GateRequest → GateResult    guard or operator (200 both
                                                                     when allowed and blocked)
POST     /{id}/deployed                  DeployedRequest →           guard or operator
                                         Deployment
POST     /{id}/finish                    FinishRequest → Deployment  guard or operator
POST     /freeze/override                FreezeOverrideRequest →     operator (audited)
                                         FreezeOverride (201)
=======  ==============================  ==========================  ===========================

The flow: ``gate`` → ``track`` (state ``registered``; the hub captures the baseline at once and
keeps probing until the deploy is done) → the deploy runs (``deploying``) → ``deployed`` (the hub
starts ``stabilizing``: warm-up, then the stabilization period, then ``monitoring`` for the
monitoring duration, judging at each look) → ``succeeded`` | ``failed`` | ``inconclusive``. A
failed verdict with auto-rollback on sets ``rollback_requested``; whoever performs the rollback
(the guard's watch in CI) tracks it as its own deployment with ``kind=rollback`` and
``rolls_back`` = the failed one, which then becomes ``rolling_back`` → ``rolled_back`` when the
rollback deployment succeeds. ``finish`` closes a deployment early or records the outcome the
guard saw (e.g. the deploy command failed).

A guard authenticated with an OIDC token may only act on targets its repository is trusted for.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from bounceback.api.schema import MAX_BIGINT, MAX_ID

TARGET_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,127}$"
ENVIRONMENT_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._ -]{0,63}$"
MAX_HEALTH_URLS = 20


class _Wire(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DeploymentState(StrEnum):
    REGISTERED = "registered"  # tracked; baseline being captured, deploy not yet started
    DEPLOYING = "deploying"
    STABILIZING = "stabilizing"  # warm-up and stabilization: watched, not judged
    MONITORING = "monitoring"  # judged at every look
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    INCONCLUSIVE = "inconclusive"  # never rolls back by itself; a human decides
    ROLLING_BACK = "rolling_back"
    ROLLED_BACK = "rolled_back"
    CANCELLED = "cancelled"  # superseded or abandoned before a verdict


TERMINAL_STATES = frozenset(
    {
        DeploymentState.SUCCEEDED,
        DeploymentState.FAILED,
        DeploymentState.INCONCLUSIVE,
        DeploymentState.ROLLED_BACK,
        DeploymentState.CANCELLED,
    }
)


class DeploymentKind(StrEnum):
    DEPLOY = "deploy"
    ROLLBACK = "rollback"


class VerdictOutcome(StrEnum):
    PASS = "pass"  # noqa: S105 (a verdict, not a password)
    FAIL = "fail"
    INCONCLUSIVE = "inconclusive"
    NODATA = "nodata"


class Thresholds(_Wire):
    """The judge's knobs a workflow may set per deployment (hub.toml sets the defaults)."""

    alpha: float | None = Field(None, gt=0, lt=0.5)
    error_rate_ratio: float | None = Field(None, ge=1.0)  # rho0: fail only above this ratio
    error_rate_floor: float | None = Field(None, ge=0)
    latency_tolerance: float | None = Field(None, ge=0)  # share of the baseline median
    cpu_tolerance: float | None = Field(None, ge=0)
    memory_tolerance: float | None = Field(None, ge=0)

    @field_validator("*", mode="before")
    @classmethod
    def _not_a_boolean(cls, value: Any) -> Any:
        # pydantic would read true as 1.0: a workflow that sends a boolean has made a mistake.
        if isinstance(value, bool):
            raise ValueError("expected a number, not true or false")
        return value


class TrackRequest(_Wire):
    target: str = Field(pattern=TARGET_PATTERN)  # the service name
    environment: str = Field("production", pattern=ENVIRONMENT_PATTERN)
    version: str = Field(min_length=1, max_length=255)  # a commit SHA, tag or image digest
    previous_version: str | None = Field(None, max_length=255)
    kind: DeploymentKind = DeploymentKind.DEPLOY
    rolls_back: int | None = Field(None, gt=0, le=MAX_ID)  # kind=rollback: the deployment it undoes
    repository: str | None = Field(None, pattern=r"^[^/\s]+/[^/\s]+$")
    github_deployment_id: int | None = Field(None, gt=0, le=MAX_BIGINT)
    run_url: str | None = Field(None, max_length=2048)  # the CI run, for the report
    health_urls: list[str] = Field(default_factory=list, max_length=MAX_HEALTH_URLS)
    hosts: list[str] = Field(default_factory=list, max_length=500)  # agent ids; [] = config
    stabilization_minutes: float | None = Field(None, ge=0, le=24 * 60)
    monitoring_minutes: float | None = Field(None, ge=0, le=7 * 24 * 60)
    thresholds: Thresholds = Field(default_factory=Thresholds)
    dry_run: bool = False  # judged and reported, never rolled back


class DeployedRequest(_Wire):
    """The deploy command finished: the hub starts the watch from now."""

    succeeded: bool = True
    message: str = Field("", max_length=2048)
    # The GitHub deployment created after ``track`` (it carries the hub's id in its payload);
    # recorded when the deployment has none yet.
    github_deployment_id: int | None = Field(None, gt=0, le=MAX_BIGINT)


class FinishRequest(_Wire):
    outcome: DeploymentState  # a terminal state
    message: str = Field("", max_length=2048)


class RollbackRequest(_Wire):
    reason: str = Field(min_length=1, max_length=2048)
    # default: the target's latest deployment
    deployment_id: int | None = Field(None, gt=0, le=MAX_ID)
    environment: str = Field("production", pattern=ENVIRONMENT_PATTERN)
    to_version: str | None = Field(None, max_length=255)  # default: the last good version


class GateRequest(_Wire):
    target: str = Field(pattern=TARGET_PATTERN)
    environment: str = Field("production", pattern=ENVIRONMENT_PATTERN)
    version: str | None = Field(None, max_length=255)
    health_urls: list[str] = Field(default_factory=list, max_length=MAX_HEALTH_URLS)


class GateReasonCode(StrEnum):
    CRITICAL_INCIDENT = "critical_incident"
    OPEN_CIRCUIT = "open_circuit"
    DEGRADED = "degraded"
    FREEZE = "freeze"
    RECENT_FAILURE = "recent_failure"
    UNHEALTHY = "unhealthy"  # a health-url did not answer 2xx
    MONITORING_DISABLED = "monitoring_disabled"  # informational, never blocks


class GateReason(_Wire):
    code: GateReasonCode
    message: str  # one sentence a person can act on
    blocking: bool = True
    details: dict[str, Any] = Field(default_factory=dict)


class GateResult(_Wire):
    allowed: bool
    target: str
    environment: str
    reasons: list[GateReason]  # every reason, blocking or not
    checked_at: datetime


class FreezeOverrideRequest(_Wire):
    target: str = Field(pattern=TARGET_PATTERN)
    environment: str = Field("production", pattern=ENVIRONMENT_PATTERN)
    reason: str = Field(min_length=3, max_length=2048)
    minutes: float = Field(60, gt=0, le=24 * 60)


class FreezeOverride(_Wire):
    id: int
    target: str
    environment: str
    reason: str
    actor: str
    until: datetime


class MetricVerdict(_Wire):
    """One row of the job summary's table."""

    name: str
    kind: str  # rate | distribution | binary
    outcome: VerdictOutcome
    explanation: str
    baseline: float | None = None  # rate, median, or 1/0 for up/down
    current: float | None = None
    baseline_n: int | None = None
    current_n: int | None = None
    ratio: float | None = None  # current / baseline (rates) or current median / baseline median
    effect_lower: float | None = None
    effect_upper: float | None = None
    p_value: float | None = None
    alpha: float | None = None
    threshold: float | None = None


class Verdict(_Wire):
    outcome: VerdictOutcome
    look: int
    max_looks: int
    explanation: str
    metrics: list[MetricVerdict]
    judged_at: datetime


class TimelineEntry(_Wire):
    at: datetime
    kind: str  # tracked, baseline, deployed, stabilizing, monitoring, look, verdict, rollback…
    message: str
    details: dict[str, Any] = Field(default_factory=dict)


class Deployment(_Wire):
    id: int
    target: str
    environment: str
    version: str
    previous_version: str | None
    kind: DeploymentKind
    rolls_back: int | None
    rolled_back_by: int | None
    state: DeploymentState
    dry_run: bool
    repository: str | None
    github_deployment_id: int | None
    run_url: str | None
    actor: str
    created_at: datetime
    deployed_at: datetime | None
    finished_at: datetime | None
    stabilization_minutes: float
    monitoring_minutes: float
    rollback_requested: bool  # a failed verdict with auto-rollback on: roll back now
    last_good_version: str | None  # what a rollback would restore
    verdict: Verdict | None  # the latest
    report_url: str  # the hub's page for people


class DeploymentDetail(_Wire):
    deployment: Deployment
    baseline: dict[str, Any]  # per metric: n and summary value of the pre-deploy samples
    timeline: list[TimelineEntry]


class DeploymentStatus(_Wire):
    monitoring_enabled: bool  # DEPLOYMENT_MONITORING_ENABLED
    auto_rollback_enabled: bool  # AUTO_ROLLBACK_ENABLED, or as last set through the API
    stabilization_minutes: float
    monitoring_minutes: float
    active: int
    by_state: dict[str, int]  # over the last 24 hours
    last_deployment: Deployment | None
