"""The safety gate's decisions, driven with explicit times and cycle numbers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from bounceback.agent.safety import (
    ActionLimits,
    Key,
    SafetyGate,
    SafetySpec,
    Verdict,
    Verification,
    verify,
)
from bounceback.api.agent_wire import CheckStatus

T0 = datetime(2026, 1, 1, tzinfo=UTC)
LIMITS = ActionLimits(cooldown=timedelta(minutes=10), max_retries=3)
DEFAULTS = SafetySpec()
KEY: Key = ("clean-tmp", "/var/tmp/app")


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def run(gate: SafetyGate, key: Key, minute: float, cycle: int, *, verify: bool = False) -> None:
    """Record one attempt that ran and finished (still being verified if ``verify``)."""
    gate.begin(key)
    gate.commit(key, now=at(minute), cycle=cycle)
    gate.finished()
    if not verify:
        gate.release(key)


def test_defaults() -> None:
    spec = SafetySpec()
    assert (spec.self_healing, spec.dry_run) == (True, False)
    assert (spec.max_actions_per_hour, spec.max_concurrent_actions) == (20, 2)
    assert (spec.max_attempts_per_target, spec.attempts_window_cycles) == (3, 60)
    with pytest.raises(ValidationError, match="extra"):
        SafetySpec.model_validate({"max_actions_per_minute": 1})
    with pytest.raises(ValidationError, match="max_concurrent_actions"):
        SafetySpec(max_concurrent_actions=0)


@dataclass(frozen=True)
class Case:
    name: str
    history: list[tuple[Key, float, int]]  # (key, minute, cycle) of earlier attempts
    minute: float
    cycle: int
    expected: str  # "allow", a skip code, or "give_up"
    spec: SafetySpec = DEFAULTS
    limits: ActionLimits = LIMITS
    enabled: bool = True
    dry_run: bool = False


OTHER: Key = ("compress-logs", "/var/log/app")
ELSEWHERE: Key = ("clean-tmp", "/var/tmp/other")

CASES = [
    Case("first attempt", [], 0, 0, "allow"),
    Case("disabled", [], 0, 0, "disabled", enabled=False),
    Case(
        "disabled but dry run shows what would happen",
        [],
        0,
        0,
        "allow",
        enabled=False,
        dry_run=True,
    ),
    Case("cooldown", [(KEY, 0, 0)], 9.9, 10, "cooldown"),
    Case("cooldown over", [(KEY, 0, 0)], 10, 10, "allow"),
    Case("cooldown is per action", [(OTHER, 0, 0)], 1, 1, "allow"),
    Case("cooldown is per target", [(ELSEWHERE, 0, 0)], 1, 1, "allow"),
    Case(
        "no cooldown declared", [(KEY, 0, 0)], 0, 0, "allow", limits=ActionLimits(timedelta(0), 3)
    ),
    Case("retries left", [(KEY, 0, 0), (KEY, 10, 10)], 20, 20, "allow"),
    Case("retries used up", [(KEY, 0, 0), (KEY, 10, 10), (KEY, 20, 20)], 30, 30, "retries"),
    Case(
        "restart loop: 3 attempts within 60 cycles",
        [(KEY, 0, 0), (KEY, 10, 10), (KEY, 20, 20)],
        30,
        30,
        "give_up",
        limits=ActionLimits(timedelta(minutes=10), 10),
    ),
    Case(
        "restart loop counts every action on the target",
        [(KEY, 0, 0), (("restart", "/var/tmp/app"), 1, 1), (("other", "/var/tmp/app"), 2, 2)],
        30,
        30,
        "give_up",
    ),
    Case(
        "restart loop: the oldest attempt left the window",
        [(KEY, 0, 0), (KEY, 10, 10), (KEY, 20, 20)],
        90,
        60,
        "allow",
        limits=ActionLimits(timedelta(minutes=10), 10),
    ),
    Case(
        "host rate limit",
        [((f"a{i}", f"t{i}"), i, i) for i in range(20)],
        30,
        30,
        "rate",
    ),
    Case(
        "host rate limit: an hour later",
        [((f"a{i}", f"t{i}"), i, i) for i in range(20)],
        60,
        60,
        "allow",
    ),
    Case(
        "custom rate limit",
        [(OTHER, 0, 0), (ELSEWHERE, 1, 1)],
        2,
        2,
        "rate",
        spec=SafetySpec(max_actions_per_hour=2),
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_gate_decisions(case: Case) -> None:
    gate = SafetyGate(case.spec)
    for key, minute, cycle in case.history:
        run(gate, key, minute, cycle)
    decision = gate.decide(
        KEY,
        case.limits,
        now=at(case.minute),
        cycle=case.cycle,
        enabled=case.enabled,
        dry_run=case.dry_run,
    )
    expected = case.expected
    if expected == "allow":
        assert decision.verdict is Verdict.ALLOW, decision.reason
    elif expected == "give_up":
        assert decision.verdict is Verdict.GIVE_UP
        assert "escalating" in decision.reason
    else:
        assert decision.verdict is Verdict.SKIP
        assert decision.code == expected, decision.reason


def test_an_action_being_verified_is_not_started_again() -> None:
    gate = SafetyGate(SafetySpec())
    run(gate, KEY, 0, 0, verify=True)
    decision = gate.decide(KEY, ActionLimits(timedelta(0), 3), now=at(5), cycle=5)
    assert decision.code == "in_progress"
    gate.release(KEY)
    assert (
        gate.decide(KEY, ActionLimits(timedelta(0), 3), now=at(5), cycle=5).verdict is Verdict.ALLOW
    )


def test_concurrency_limit_counts_running_actions_only() -> None:
    gate = SafetyGate(SafetySpec(max_concurrent_actions=2))
    gate.begin(OTHER)
    gate.begin(ELSEWHERE)
    assert gate.decide(KEY, LIMITS, now=T0, cycle=0).code == "busy"
    gate.finished()
    assert gate.decide(KEY, LIMITS, now=T0, cycle=0).verdict is Verdict.ALLOW


def test_an_episode_ends_and_the_retries_start_over() -> None:
    gate = SafetyGate(SafetySpec())
    limits = ActionLimits(timedelta(0), 2)
    run(gate, KEY, 0, 0)
    run(gate, KEY, 1, 1)
    assert gate.episode_attempts(KEY) == 2
    assert gate.decide(KEY, limits, now=at(2), cycle=2).code == "retries"
    gate.end_episode(KEY)
    assert gate.decide(KEY, limits, now=at(2), cycle=2).verdict is Verdict.ALLOW


def test_a_given_up_target_stays_given_up_until_reset() -> None:
    gate = SafetyGate(SafetySpec(max_attempts_per_target=1))
    run(gate, KEY, 0, 0)
    later = at(600)
    assert gate.decide(KEY, LIMITS, now=later, cycle=1).verdict is Verdict.GIVE_UP
    gate.give_up(KEY[1])
    for action in ("clean-tmp", "anything-else"):
        decision = gate.decide((action, KEY[1]), LIMITS, now=later, cycle=1000)
        assert decision.code == "gave_up"
    assert gate.decide(ELSEWHERE, LIMITS, now=later, cycle=1).verdict is Verdict.ALLOW
    gate.reset(KEY[1])
    assert gate.decide(KEY, LIMITS, now=later, cycle=2).verdict is Verdict.ALLOW


def test_a_dry_run_has_a_cooldown_of_its_own_and_real_limits_ignore_it() -> None:
    gate = SafetyGate(SafetySpec())
    gate.note_dry_run(KEY, now=T0)
    assert gate.decide(KEY, LIMITS, now=at(5), cycle=5, dry_run=True).code == "cooldown"
    assert gate.decide(KEY, LIMITS, now=at(5), cycle=5).verdict is Verdict.ALLOW
    assert gate.status(now=at(5), cooldown=lambda _: LIMITS.cooldown).attempts_last_hour == 0


def test_rollbacks_count_for_the_rate_limit_but_not_the_restart_loop() -> None:
    gate = SafetyGate(SafetySpec(max_actions_per_hour=2, max_attempts_per_target=1))
    gate.commit_rollback(now=T0, cycle=0)
    assert gate.decide(KEY, LIMITS, now=T0, cycle=0).verdict is Verdict.ALLOW
    gate.commit_rollback(now=T0, cycle=0)
    assert gate.decide(KEY, LIMITS, now=T0, cycle=0).code == "rate"


def test_status_lists_cooldowns_episodes_and_given_up_targets() -> None:
    gate = SafetyGate(SafetySpec())
    run(gate, KEY, 0, 0)
    gate.give_up("/srv/x")
    status = gate.status(now=at(4), cooldown=lambda _: timedelta(minutes=10))
    assert status.cooldowns == {"clean-tmp@/var/tmp/app": pytest.approx(360.0)}
    assert status.episodes == {"clean-tmp@/var/tmp/app": 1}
    assert status.given_up == ["/srv/x"]
    assert (status.executing, status.attempts_last_hour) == (0, 1)
    assert gate.status(now=at(11), cooldown=lambda _: timedelta(minutes=10)).cooldowns == {}


@pytest.mark.parametrize(
    ("status", "left", "expected"),
    [
        (CheckStatus.OK, 2, Verification.SUCCEEDED),
        (CheckStatus.OK, 1, Verification.SUCCEEDED),
        (CheckStatus.FAILING, 2, Verification.WAITING),
        (CheckStatus.PENDING, 2, Verification.WAITING),
        (CheckStatus.ERROR, 1, Verification.FAILED),
        (None, 1, Verification.FAILED),
        (CheckStatus.FAILING, 1, Verification.FAILED),
    ],
)
def test_verify(status: CheckStatus | None, left: int, expected: Verification) -> None:
    assert verify(status, left) is expected
