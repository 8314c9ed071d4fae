"""The ``[degradation]`` section of hub.toml: services (which hosts make up a service), rules
(conditions, a target level, actions) and the default hold period. Pydantic only; a bad key
stops the hub with its dotted path (``degradation.rules[0].conditions[1].fraction``)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from bounceback.api.deployments.config import DegradationLevel

RULE_ID = r"^[a-z0-9][a-z0-9_-]{0,63}$"
NAME = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$"
FlagValue = bool | int | float | str


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MetricCondition(_Section):
    """A reported metric beyond a threshold on at least ``fraction`` of the rule's hosts."""

    kind: Literal["metric"]
    metric: str = Field(min_length=1, max_length=200)  # e.g. memory_percent, disk_percent:/var
    op: Literal[">", ">=", "<", "<="] = ">="
    threshold: float
    fraction: float = Field(0.5, gt=0, le=1)


class CircuitCondition(_Section):
    """Circuits of one dependency (by name or by kind) in ``state`` on at least ``fraction`` of
    the rule's hosts; a host that reports no such circuit counts as a host without it open."""

    kind: Literal["circuit"]
    dependency: str | None = Field(None, min_length=1, max_length=200)  # e.g. postgres
    dependency_kind: str | None = Field(None, min_length=1, max_length=64)  # e.g. database
    state: Literal["open", "half_open", "not_closed"] = "open"
    fraction: float = Field(0.5, gt=0, le=1)

    @model_validator(mode="after")
    def _one_selector(self) -> CircuitCondition:
        if (self.dependency is None) == (self.dependency_kind is None):
            raise ValueError("give exactly one of 'dependency' or 'dependency_kind'")
        return self


class IncidentCondition(_Section):
    """At least ``count`` open incidents of ``severity`` or worse whose labels include
    ``labels`` (and whose service is the rule's, when the rule has one)."""

    kind: Literal["incident"]
    severity: Literal["critical", "high", "medium", "low", "info"] = "critical"
    labels: dict[str, str] = Field(default_factory=dict)
    count: int = Field(1, ge=1)


Condition = Annotated[
    MetricCondition | CircuitCondition | IncidentCondition, Field(discriminator="kind")
]


class Action(_Section):
    """One degradation action, expressed as one flag that applications read.

    ============================  ==========================  ==============  ===============
    type                          flag key                    while degraded  normal (default)
    ============================  ==========================  ==============  ===============
    ``disable_feature``           ``feature.<name>.enabled``  false           true
    ``cached_content``            ``cache.<name>.serve_stale``  true          false
    ``reduce_functionality``      ``feature.<name>.mode``     ``value``       ``"full"``
    ``rate_limit``                ``ratelimit.<name>.rps``    ``value``       0 (no limit)
    ``redirect``                  ``redirect.<name>.target``  ``value``       ``""``
    ``flag``                      ``<name>``                  ``value``       ``default``
    ============================  ==========================  ==============  ===============
    """

    type: Literal[
        "disable_feature",
        "cached_content",
        "reduce_functionality",
        "rate_limit",
        "redirect",
        "flag",
    ]
    name: str = Field(pattern=NAME)
    value: FlagValue | None = None
    default: FlagValue | None = None

    @model_validator(mode="after")
    def _values(self) -> Action:
        needs_value = self.type in ("reduce_functionality", "rate_limit", "redirect", "flag")
        if needs_value and self.value is None:
            raise ValueError(f"a {self.type} action needs 'value'")
        if self.type == "rate_limit" and (
            isinstance(self.value, bool) or not isinstance(self.value, int | float)
        ):
            raise ValueError("a rate_limit action's 'value' is requests per second (a number)")
        if self.type == "flag" and self.default is None:
            raise ValueError("a flag action needs 'default' (the value in normal operation)")
        if self.type != "flag" and self.default is not None:
            raise ValueError(f"'default' is fixed for a {self.type} action; use type = 'flag'")
        return self


class RuleConfig(_Section):
    id: str = Field(pattern=RULE_ID)
    name: str = Field("", max_length=200)
    description: str = Field("", max_length=2000)
    service: str | None = Field(None, pattern=NAME)  # None: the whole fleet
    level: DegradationLevel
    match: Literal["any", "all"] = "any"
    conditions: tuple[Condition, ...] = ()  # none: manual activation only
    actions: tuple[Action, ...] = ()
    hold_seconds: float | None = Field(None, ge=0)  # None: the section's hold_seconds

    @model_validator(mode="after")
    def _not_normal(self) -> RuleConfig:
        if self.level == DegradationLevel.NORMAL:
            raise ValueError("a rule's level must be minimal, moderate, severe or emergency")
        return self


class DegradationConfig(_Section):
    # How long a rule's conditions must stay clear before it reverts by itself.
    hold_seconds: float = Field(300, ge=0)
    # Service name → agent ids. A service not listed here uses deployments.targets.<name>.hosts.
    services: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    rules: tuple[RuleConfig, ...] = ()

    @model_validator(mode="after")
    def _unique_ids(self) -> DegradationConfig:
        seen: set[str] = set()
        for rule in self.rules:
            if rule.id in seen:
                raise ValueError(f"rule id {rule.id!r} is used twice")
            seen.add(rule.id)
        return self

    def rule(self, rule_id: str) -> RuleConfig | None:
        return next((rule for rule in self.rules if rule.id == rule_id), None)

    def hold(self, rule: RuleConfig) -> float:
        return self.hold_seconds if rule.hold_seconds is None else rule.hold_seconds
