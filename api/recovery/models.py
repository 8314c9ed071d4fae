"""Recovery actions: what the seed calls "Custom Recovery Actions", as hub.toml and the API
spell them, and the five predefined actions the hub ships enabled.

Fields accept the seed's camelCase names (``metricThresholds``, ``maxRetries``, …) and their
snake_case twins; the API answers in camelCase, as the seed does. Durations and cooldowns are in
minutes (the seed's unit); step and verification timeouts are in seconds.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

from bounceback.api.schema import Severity

ACTION_ID_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,63}$"
ActionId = Annotated[str, Field(pattern=ACTION_ID_PATTERN)]


class _Model(BaseModel):
    model_config = ConfigDict(
        extra="forbid", frozen=True, alias_generator=to_camel, populate_by_name=True
    )


class StepType(StrEnum):
    AGENT_ACTION = "agent_action"  # run an action the host's agent declares in its agent.toml
    WEBHOOK = "webhook"  # POST the attempt as JSON to a URL
    DEGRADATION = "degradation"  # activate a degradation rule
    DEPLOYMENT_ROLLBACK = "deployment_rollback"  # roll the target's last deployment back


HUB_STEPS = frozenset({StepType.WEBHOOK, StepType.DEGRADATION, StepType.DEPLOYMENT_ROLLBACK})


class Step(_Model):
    type: StepType
    # The agent action's name, the webhook URL, the degradation rule id or the deployment target.
    target: Annotated[str, Field(min_length=1, max_length=500)]
    parameters: dict[str, Any] = Field(default_factory=dict)
    timeout_seconds: float = Field(120, gt=0, le=3600)

    @model_validator(mode="after")
    def _url(self) -> Step:
        if self.type == StepType.WEBHOOK and not self.target.startswith(("http://", "https://")):
            raise ValueError("a webhook step's target must be an http(s) URL")
        return self


class Verify(_Model):
    """After the steps: the host's metrics must fall back below these (default: the action's own
    thresholds) in a sample taken after ``delay_seconds``, before ``timeout_seconds`` pass."""

    metric_thresholds: dict[str, float] | None = None
    delay_seconds: float = Field(30, ge=0, le=3600)
    timeout_seconds: float = Field(300, gt=0, le=86400)


class AlertMatchers(_Model):
    """Which incidents trigger the action: every given matcher must hold."""

    labels: dict[str, str] = Field(default_factory=dict)
    severity: list[Severity] = Field(default_factory=list)
    source: list[str] = Field(default_factory=list)
    summary_contains: str | None = None


class Conditions(_Model):
    # metric → value it must exceed; "disk_percent" covers every "disk_percent:<mount>".
    metric_thresholds: dict[str, float] = Field(default_factory=dict)
    duration: float = Field(0, ge=0, le=1440)  # minutes the thresholds must hold
    alerts: AlertMatchers | None = None


class Steps(_Model):
    immediate: list[Step] = Field(min_length=1, max_length=20)
    verify: Verify | None = None
    rollback: list[Step] = Field(default_factory=list, max_length=20)
    escalate: bool = True  # hand the incident to a human when retries are exhausted


class Targets(_Model):
    """Where the action may run; empty: anywhere its conditions hold."""

    hosts: list[str] = Field(default_factory=list)
    labels: dict[str, str] = Field(default_factory=dict)  # matched against incident labels


class RecoveryAction(_Model):
    id: ActionId
    name: Annotated[str, Field(min_length=1, max_length=200)]
    description: str = ""
    severity: Severity = Severity.HIGH
    conditions: Conditions = Field(default_factory=Conditions)
    actions: Steps
    max_retries: int = Field(3, ge=1, le=20)  # tries before a human is needed
    cooldown_period: float = Field(10, ge=0, le=10080)  # minutes between episodes per target
    auto_execute: bool = True
    enabled: bool = True
    targets: Targets = Field(default_factory=Targets)

    def shown(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)


class RecoveryConfig(_Model):
    """hub.toml's ``[recovery]`` section."""

    predefined: bool = True  # ship the seed's five actions (a same-id action replaces one)
    poll_seconds: float = Field(5, gt=0, le=300)  # how often new incidents are looked at
    actions: list[RecoveryAction] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique(self) -> RecoveryConfig:
        ids = [action.id for action in self.actions]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"duplicate recovery action ids: {', '.join(duplicates)}")
        return self


def _agent(target: str, **parameters: Any) -> Step:
    return Step(type=StepType.AGENT_ACTION, target=target, parameters=parameters)


PREDEFINED: tuple[RecoveryAction, ...] = (
    RecoveryAction(
        id="high-memory-usage",
        name="High Memory Usage",
        description="Clear application caches, free memory, restart the service if needed",
        conditions=Conditions(metric_thresholds={"memory_percent": 90}, duration=5),
        actions=Steps(
            immediate=[_agent("clear-caches"), _agent("memory-cleanup")],
            verify=Verify(),
            rollback=[_agent("restart-app")],
        ),
        max_retries=2,
        cooldown_period=10,
    ),
    RecoveryAction(
        id="high-response-time",
        name="High Response Time",
        description="Clear query caches, reset database connections, scale resources",
        conditions=Conditions(metric_thresholds={"http_latency_ms": 2000}, duration=5),
        actions=Steps(
            immediate=[_agent("clear-query-cache"), _agent("reset-db-connections")],
            verify=Verify(),
            rollback=[_agent("scale-up")],
        ),
        max_retries=2,
        cooldown_period=15,
    ),
    RecoveryAction(
        id="database-connection",
        name="Database Connection",
        description="Reset connection pools, restart the database service, degrade gracefully",
        severity=Severity.CRITICAL,
        conditions=Conditions(alerts=AlertMatchers(labels={"alert": "database_connection"})),
        actions=Steps(
            immediate=[_agent("reset-db-connections"), _agent("restart-database")],
            rollback=[Step(type=StepType.DEGRADATION, target="database-outage")],
        ),
        max_retries=2,
        cooldown_period=10,
    ),
    RecoveryAction(
        id="disk-space",
        name="Disk Space",
        description="Clean temporary files, compress old logs, remove cached data",
        conditions=Conditions(metric_thresholds={"disk_percent": 90}, duration=10),
        actions=Steps(
            immediate=[_agent("clean-temp"), _agent("clean-logs"), _agent("clear-caches")],
            verify=Verify(),
        ),
        max_retries=2,
        cooldown_period=30,
    ),
    RecoveryAction(
        id="deployment-failure",
        name="Deployment Failure",
        description="Roll back to the previous version, restore configuration, validate health",
        severity=Severity.CRITICAL,
        conditions=Conditions(alerts=AlertMatchers(labels={"alert": "deployment_failed"})),
        actions=Steps(
            # "{target}" is the incident's host label, else its service: the deployment target.
            immediate=[Step(type=StepType.DEPLOYMENT_ROLLBACK, target="{target}")],
        ),
        max_retries=1,
        cooldown_period=30,
    ),
)
