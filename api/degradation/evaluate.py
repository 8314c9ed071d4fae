"""Which degradation holds: a pure function from rules, facts, each rule's state and ``now`` to
the changes to make.

Per rule: inactive and its conditions met → activated (``auto``). Active ``auto`` and its
conditions clear → the hold period starts; met again during the hold → the hold is cancelled;
clear for the whole hold → reverted. A ``manual`` activation holds until an operator reverts it:
the check never reverts what a person decided. A manual revert of a rule whose conditions still
hold suppresses it until they clear once, so the next check does not undo the operator.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum

from bounceback.api.degradation.config import (
    CircuitCondition,
    Condition,
    IncidentCondition,
    MetricCondition,
    RuleConfig,
)
from bounceback.api.schema import SEVERITY_RANK, Severity


class Mode(StrEnum):
    AUTO = "auto"  # activated by the check; reverts by itself after the hold period
    MANUAL = "manual"  # activated by an operator; only an operator reverts it


class Change(StrEnum):
    ACTIVATED = "activated"
    CLEARING = "clearing"  # conditions clear: the hold period started
    RECOVERED = "recovered"  # conditions met again during the hold
    REVERTED = "reverted"
    RESUMED = "resumed"  # a manually reverted rule's conditions cleared: automation resumes


@dataclass(frozen=True)
class RuleState:
    active: bool = False
    mode: Mode | None = None
    since: datetime | None = None
    reason: str = ""
    actor: str | None = None
    clear_since: datetime | None = None
    suppressed: bool = False


@dataclass(frozen=True)
class CircuitFact:
    host: str
    dependency: str
    kind: str
    state: str


@dataclass(frozen=True)
class IncidentFact:
    severity: str
    labels: Mapping[str, str]
    service: str | None = None


@dataclass(frozen=True)
class Facts:
    hosts: tuple[str, ...] = ()  # every known agent
    services: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    metrics: Mapping[str, Mapping[str, float | None]] = field(default_factory=dict)
    circuits: tuple[CircuitFact, ...] = ()
    incidents: tuple[IncidentFact, ...] = ()  # open ones only

    def hosts_of(self, rule: RuleConfig) -> tuple[str, ...]:
        if rule.service is None:
            return self.hosts
        return self.services.get(rule.service, ())


@dataclass(frozen=True)
class Decision:
    rule_id: str
    change: Change
    state: RuleState
    message: str


_OPS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}


def _share(matching: int, hosts: int) -> str:
    return f"{matching}/{hosts} hosts"


def _metric(condition: MetricCondition, hosts: tuple[str, ...], facts: Facts) -> tuple[bool, str]:
    compare = _OPS[condition.op]
    matching = 0
    for host in hosts:
        reading = facts.metrics.get(host, {}).get(condition.metric)
        if reading is not None and compare(reading, condition.threshold):
            matching += 1
    met = bool(hosts) and matching >= condition.fraction * len(hosts)
    text = f"{condition.metric} {condition.op} {condition.threshold:g} on " + _share(
        matching, len(hosts)
    )
    return met, text


def _circuit_matches(condition: CircuitCondition, circuit: CircuitFact) -> bool:
    if condition.dependency is not None and circuit.dependency != condition.dependency:
        return False
    if condition.dependency_kind is not None and circuit.kind != condition.dependency_kind:
        return False
    if condition.state == "not_closed":
        return circuit.state != "closed"
    return circuit.state == condition.state


def _circuit(condition: CircuitCondition, hosts: tuple[str, ...], facts: Facts) -> tuple[bool, str]:
    members = set(hosts)
    matching = {
        c.host for c in facts.circuits if c.host in members and _circuit_matches(condition, c)
    }
    met = bool(hosts) and len(matching) >= condition.fraction * len(hosts)
    what = condition.dependency or f"{condition.dependency_kind} dependency"
    return met, f"{what} circuit {condition.state} on " + _share(len(matching), len(hosts))


def _rank(severity: str) -> int:
    try:
        return SEVERITY_RANK[Severity(severity)]
    except ValueError:
        return 0


def _incident(condition: IncidentCondition, rule: RuleConfig, facts: Facts) -> tuple[bool, str]:
    worst = SEVERITY_RANK[Severity(condition.severity)]
    found = 0
    for incident in facts.incidents:
        if _rank(incident.severity) < worst:
            continue
        if rule.service is not None and incident.service not in (None, rule.service):
            continue
        if all(incident.labels.get(k) == v for k, v in condition.labels.items()):
            found += 1
    labels = ",".join(f"{k}={v}" for k, v in sorted(condition.labels.items()))
    text = f"{found} open {condition.severity}+ incident(s)" + (f" with {labels}" if labels else "")
    return found >= condition.count, text


def condition_met(condition: Condition, rule: RuleConfig, facts: Facts) -> tuple[bool, str]:
    if isinstance(condition, MetricCondition):
        return _metric(condition, facts.hosts_of(rule), facts)
    if isinstance(condition, CircuitCondition):
        return _circuit(condition, facts.hosts_of(rule), facts)
    return _incident(condition, rule, facts)


def rule_met(rule: RuleConfig, facts: Facts) -> tuple[bool, str]:
    """Whether the rule's conditions hold now, and why (the conditions' readings)."""
    if not rule.conditions:
        return False, "no conditions: manual activation only"
    results = [condition_met(condition, rule, facts) for condition in rule.conditions]
    combine = all if rule.match == "all" else any
    met = combine(result for result, _ in results)
    return met, "; ".join(text for _, text in results)


def _step(
    rule: RuleConfig, facts: Facts, state: RuleState, now: datetime, hold: float
) -> Decision | None:
    if state.active and state.mode == Mode.MANUAL:
        return None
    met, why = rule_met(rule, facts)
    if state.suppressed:
        if met:
            return None
        resumed = replace(state, suppressed=False)
        return Decision(rule.id, Change.RESUMED, resumed, f"conditions clear ({why})")
    if not state.active:
        if not met:
            return None
        activated = RuleState(active=True, mode=Mode.AUTO, since=now, reason=why)
        return Decision(rule.id, Change.ACTIVATED, activated, why)
    if met:
        if state.clear_since is None:
            return None
        return Decision(rule.id, Change.RECOVERED, replace(state, clear_since=None), why)
    if state.clear_since is None:
        if hold <= 0:
            return Decision(rule.id, Change.REVERTED, RuleState(), f"conditions clear ({why})")
        clearing = replace(state, clear_since=now)
        return Decision(rule.id, Change.CLEARING, clearing, f"conditions clear ({why})")
    if now - state.clear_since >= timedelta(seconds=hold):
        message = f"conditions clear for {hold:g} s ({why})"
        return Decision(rule.id, Change.REVERTED, RuleState(), message)
    return None


def evaluate(
    rules: Sequence[RuleConfig],
    facts: Facts,
    states: Mapping[str, RuleState],
    now: datetime,
    *,
    hold: Callable[[RuleConfig], float],
) -> list[Decision]:
    """The changes this check makes, one per rule at most, in rule order."""
    decisions = []
    for rule in rules:
        decision = _step(rule, facts, states.get(rule.id, RuleState()), now, hold(rule))
        if decision is not None:
            decisions.append(decision)
    return decisions


def activate_manually(state: RuleState, now: datetime, reason: str, actor: str) -> RuleState:
    """An operator's activation: it holds until an operator reverts it."""
    since = state.since if state.active and state.since is not None else now
    return RuleState(active=True, mode=Mode.MANUAL, since=since, reason=reason, actor=actor)


def revert_manually(rule: RuleConfig) -> RuleState:
    """An operator's revert; a rule with conditions waits for them to clear before it may
    activate by itself again."""
    return RuleState(suppressed=bool(rule.conditions))
