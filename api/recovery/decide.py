"""The pure decisions of recovery: which action fires, whether safety lets it, and how an attempt
moves through ``pending → running → verifying → succeeded | failed → rolled_back | escalated``.

Functions of state + inputs + ``now``; the engine does the I/O. Tested table-driven with a fake
clock, and driven by ``bench/flapping.py``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from bounceback.api.recovery.models import AlertMatchers, RecoveryAction, Verify

POLL = timedelta(seconds=5)  # how soon a waiting attempt is looked at again


class State(StrEnum):
    PENDING = "pending"  # created; waits for a free slot under MAX_CONCURRENT_RECOVERIES
    RUNNING = "running"  # its steps were issued; waiting for their results
    VERIFYING = "verifying"  # steps done; waiting for metrics to show the recovery
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # passing state: rollback runs, then rolled_back or escalated
    ROLLED_BACK = "rolled_back"  # a failed try that was undone; the next try follows
    ESCALATED = "escalated"  # out of tries: a human is needed


OPEN_STATES = (State.PENDING, State.RUNNING, State.VERIFYING)
ACTIVE_STATES = (State.RUNNING, State.VERIFYING)  # what MAX_CONCURRENT_RECOVERIES counts
FINAL_STATES = (State.SUCCEEDED, State.ROLLED_BACK, State.ESCALATED)


# -- which action fires ------------------------------------------------------------------------


def metric_value(name: str, metrics: Mapping[str, float]) -> float | None:
    """``memory_percent`` exactly, or the worst of ``disk_percent:/var``, ``disk_percent:/``…"""
    if name in metrics:
        return metrics[name]
    values = [v for k, v in metrics.items() if k.startswith(f"{name}:")]
    return max(values) if values else None


def breached(thresholds: Mapping[str, float], metrics: Mapping[str, float]) -> bool:
    """Every threshold exceeded (a metric the host does not report never is)."""
    if not thresholds:
        return False
    for name, limit in thresholds.items():
        value = metric_value(name, metrics)
        if value is None or value <= limit:
            return False
    return True


@dataclass(frozen=True)
class Hold:
    since: datetime | None  # when the breach began (None: not breached)
    fire: bool  # held for the whole duration: trigger now


def track(since: datetime | None, is_breached: bool, now: datetime, duration: timedelta) -> Hold:
    """Follow a threshold over successive samples. Firing restarts the hold, so a breach that
    persists asks again only after another full duration (and safety decides)."""
    if not is_breached:
        return Hold(None, False)
    since = since or now
    if now - since >= duration:
        return Hold(now, True)
    return Hold(since, False)


def applies_to_host(action: RecoveryAction, host: str) -> bool:
    return not action.targets.hosts or host in action.targets.hosts


@dataclass(frozen=True)
class IncidentFacts:
    severity: str
    source: str
    summary: str
    service: str | None
    labels: Mapping[str, str]


def matches_incident(action: RecoveryAction, incident: IncidentFacts) -> bool:
    matchers: AlertMatchers | None = action.conditions.alerts
    if matchers is None:
        return False
    wanted = {**action.targets.labels, **matchers.labels}
    if any(incident.labels.get(k) != v for k, v in wanted.items()):
        return False
    if matchers.severity and incident.severity not in matchers.severity:
        return False
    if matchers.source and incident.source not in matchers.source:
        return False
    if matchers.summary_contains and matchers.summary_contains not in incident.summary:
        return False
    host = incident.labels.get("host")
    return not action.targets.hosts or host in action.targets.hosts


def incident_target(incident: IncidentFacts, incident_id: int) -> str:
    return incident.labels.get("host") or incident.service or f"incident:{incident_id}"


# -- whether safety lets it ---------------------------------------------------------------------


@dataclass(frozen=True)
class Safety:
    enabled: bool  # AUTO_RECOVERY_ENABLED (or the API's switch)
    manual: bool  # an operator asked: autoExecute and the cooldowns do not apply
    action: RecoveryAction
    open_for_pair: bool  # an attempt of this action on this target is not finished
    last_episode_of_pair: datetime | None  # when this action last started on this target
    last_episode_on_target: datetime | None  # when any action last started on this target
    active: int  # attempts running or verifying now
    max_concurrent: int
    global_cooldown: timedelta


@dataclass(frozen=True)
class Check:
    name: str
    passed: bool
    detail: str


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    checks: tuple[Check, ...]

    @property
    def reason(self) -> str:
        failed = [c.detail for c in self.checks if not c.passed]
        return "; ".join(failed) if failed else "allowed"


def _cooldown(name: str, last: datetime | None, span: timedelta, now: datetime) -> Check:
    if last is None or now - last >= span:
        return Check(name, True, f"no run within {span.total_seconds() / 60:g} min")
    until = last + span
    detail = f"{name}: last run {last.isoformat()}, next after {until.isoformat()}"
    return Check(name, False, detail)


def check(s: Safety, now: datetime) -> Verdict:
    """May a new episode of ``s.action`` start on this target now? Concurrency never refuses:
    the attempt waits as ``pending`` for a slot (that check is reported, not enforced, here)."""
    checks = [
        Check("enabled", s.enabled, f"auto-recovery enabled={s.enabled}"),
        Check("action_enabled", s.action.enabled, f"{s.action.id} enabled={s.action.enabled}"),
        Check(
            "one_at_a_time",
            not s.open_for_pair,
            "an attempt of this action on this target is still open"
            if s.open_for_pair
            else "no open attempt on this target",
        ),
    ]
    if s.manual:
        checks.append(Check("cooldown", True, "bypassed: run by an operator"))
    else:
        checks += [
            Check("auto_execute", s.action.auto_execute, f"autoExecute={s.action.auto_execute}"),
            _cooldown("cooldown", s.last_episode_of_pair, _minutes(s.action.cooldown_period), now),
            _cooldown("global_cooldown", s.last_episode_on_target, s.global_cooldown, now),
        ]
    allowed = all(c.passed for c in checks)
    slots = Check(
        "concurrency",
        True,
        f"{s.active} of {s.max_concurrent} running"
        + ("; it would wait for a slot" if s.active >= s.max_concurrent else ""),
    )
    return Verdict(allowed, (*checks, slots))


def _minutes(value: float) -> timedelta:
    return timedelta(minutes=value)


# -- how an attempt moves -----------------------------------------------------------------------


class Phase(StrEnum):
    IMMEDIATE = "immediate"
    ROLLBACK = "rollback"


@dataclass(frozen=True)
class AttemptFacts:
    state: State
    phase_started_at: datetime  # when the current state began
    try_number: int  # 1-based
    max_retries: int
    step_outcomes: Sequence[str]  # immediate steps: pending/delivered/done/refused/failed
    step_deadline: datetime | None
    verify: Verify | None
    thresholds: Mapping[str, float]  # what verification needs to fall below
    metrics: Mapping[str, float] | None  # the host's latest sample
    metrics_at: datetime | None
    active: int
    max_concurrent: int
    escalate: bool = True


@dataclass(frozen=True)
class Decision:
    state: State
    note: str
    run: Phase | None = None  # issue this phase's steps now
    look_at: datetime | None = None  # look again then (None: finished)
    retry: bool = False  # start the next try
    needs_human: bool = False
    passed_through: tuple[State, ...] = field(default=())  # states entered on the way


FAILED_OUTCOMES = frozenset({"failed", "refused", "timed_out"})


def _failed(a: AttemptFacts, now: datetime, why: str) -> Decision:
    if a.try_number < a.max_retries:
        return Decision(
            State.ROLLED_BACK,
            f"try {a.try_number} of {a.max_retries} failed ({why}); rolled back, trying again",
            run=Phase.ROLLBACK,
            retry=True,
            passed_through=(State.FAILED,),
        )
    return Decision(
        State.ESCALATED,
        f"try {a.try_number} of {a.max_retries} failed ({why}); "
        + ("a human is needed" if a.escalate else "giving up (escalate=false)"),
        run=Phase.ROLLBACK,
        needs_human=a.escalate,
        passed_through=(State.FAILED,),
    )


def advance(a: AttemptFacts, now: datetime) -> Decision:
    if a.state == State.PENDING:
        if a.active >= a.max_concurrent:
            return Decision(
                State.PENDING,
                f"waiting: {a.active} of {a.max_concurrent} recoveries running",
                look_at=now + POLL,
            )
        return Decision(State.RUNNING, "steps issued", run=Phase.IMMEDIATE, look_at=now + POLL)
    if a.state == State.RUNNING:
        bad = [o for o in a.step_outcomes if o in FAILED_OUTCOMES]
        if bad:
            return _failed(a, now, f"a step {bad[0]}")
        if all(o == "done" for o in a.step_outcomes):
            if a.verify is None:
                return Decision(State.SUCCEEDED, "every step done")
            wait = timedelta(seconds=a.verify.delay_seconds)
            return Decision(State.VERIFYING, "every step done; verifying", look_at=now + wait)
        if a.step_deadline is not None and now >= a.step_deadline:
            return _failed(a, now, "a step timed out")
        return Decision(State.RUNNING, "waiting for step results", look_at=now + POLL)
    if a.state == State.VERIFYING:
        assert a.verify is not None
        fresh = a.metrics is not None and a.metrics_at is not None
        fresh = fresh and a.metrics_at >= a.phase_started_at  # type: ignore[operator]
        if fresh and a.metrics is not None and not breached(a.thresholds, a.metrics):
            return Decision(State.SUCCEEDED, "verified: metrics are back below their thresholds")
        if now - a.phase_started_at >= timedelta(seconds=a.verify.timeout_seconds):
            return _failed(a, now, "verification: still above threshold")
        return Decision(State.VERIFYING, "waiting for a fresh sample", look_at=now + POLL)
    return Decision(a.state, "finished")
