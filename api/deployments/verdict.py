"""What the judge reads (samples, policy) and what it returns (a verdict that explains itself)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from bounceback.api.deployment_wire import VerdictOutcome
from bounceback.api.deployments.sequential import Spending

# The judge's outcomes are the wire's: pass | fail | inconclusive | nodata.
Outcome = VerdictOutcome


class MetricKind(StrEnum):
    RATE = "rate"  # event counts over an exposure (errors per request)
    DISTRIBUTION = "distribution"  # per-interval values (latency, CPU, memory)
    BINARY = "binary"  # up/down health signals


@dataclass(frozen=True, slots=True)
class Counts:
    events: int
    exposure: float  # requests, or seconds, the events happened in


@dataclass(frozen=True, slots=True)
class Samples:
    """One side of the comparison: the pre-deploy baseline, or everything since the deploy."""

    rates: Mapping[str, Counts] = field(default_factory=dict)
    distributions: Mapping[str, Sequence[float]] = field(default_factory=dict)
    health: Mapping[str, bool] = field(default_factory=dict)  # True = up


class JudgePolicy(BaseModel):
    """Judge configuration. alpha is the false-rollback budget of the whole watch, all metrics."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # Measured on bench/judge.py: at alpha 0.05 and rho0 1.3 healthy deployments roll back 0.2 %
    # of the time (they sit well inside H0); guard.md's alpha 0.01 / rho0 1.5 missed ~15 % of
    # doubled error rates.
    alpha: float = Field(default=0.05, gt=0, lt=0.5)
    spending: Spending = Spending.OBRIEN_FLEMING
    rate_ratio_limit: float = Field(default=1.3, ge=1.0)  # rho0: fail only above this ratio
    error_rate_floor: float = Field(default=0.001, ge=0)  # post rate below this never fails
    min_events: int = Field(default=5, ge=0)  # post events needed before a rate can fail
    min_samples: int = Field(default=20, ge=2)  # per side, for distributions
    max_samples: int = Field(default=300, ge=2)  # most recent values kept, bounds the m·n cost
    tolerance: float = Field(default=0.2, ge=0)  # allowed shift, as a share of baseline median
    tolerances: dict[str, float] = Field(default_factory=dict)  # per distribution metric

    def tolerance_for(self, metric: str) -> float:
        return self.tolerances.get(metric, self.tolerance)


@dataclass(frozen=True, slots=True)
class Summary:
    n: int  # events for a rate, values for a distribution, 1 for a health signal
    value: float  # rate, median, or 1.0 up / 0.0 down
    exposure: float | None = None


@dataclass(frozen=True, slots=True)
class Effect:
    estimate: float  # rate ratio (current / baseline) or HL shift (current - baseline)
    lower: float
    upper: float
    unit: str  # "ratio" or "shift"


@dataclass(frozen=True, slots=True)
class MetricResult:
    name: str
    kind: MetricKind
    outcome: Outcome
    explanation: str  # one sentence with the numbers behind the outcome
    baseline: Summary | None = None
    current: Summary | None = None
    effect: Effect | None = None
    p_value: float | None = None
    alpha: float | None = None  # the level this look tested at
    threshold: float | None = None  # ratio limit, or the tolerated shift in the metric's unit


@dataclass(frozen=True, slots=True)
class Verdict:
    outcome: Outcome
    look: int
    max_looks: int
    metrics: tuple[MetricResult, ...]
    explanation: str

    @property
    def rollback(self) -> bool:
        """Only a failure rolls back; inconclusive notifies and waits for a human."""
        return self.outcome is Outcome.FAIL
