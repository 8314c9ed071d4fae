"""The breaker's pure state machine and its sliding windows, driven with explicit times."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import pytest

from bounceback.agent.breaker_state import BreakerMachine, Policy, State
from bounceback.agent.breaker_window import CountWindow, SlidingWindow, TimeWindow, WindowKind


def state(machine: BreakerMachine) -> State:
    return machine.state  # read through a call: mypy would keep an asserted attribute narrowed


def fail(machine: BreakerMachine, times: int, now: float = 0.0) -> None:
    for _ in range(times):
        machine.record(machine.admit(now), True, 0.0, now)


def succeed(machine: BreakerMachine, times: int, now: float = 0.0, duration: float = 0.0) -> None:
    for _ in range(times):
        machine.record(machine.admit(now), False, duration, now)


def test_defaults_are_the_seed_settings() -> None:
    policy = Policy()
    assert (policy.failure_threshold, policy.recovery_timeout, policy.success_threshold) == (
        5,
        60.0,
        3,
    )
    assert policy.window is None
    assert policy.half_open_permits == 3


def test_five_consecutive_failures_open_the_circuit() -> None:
    machine = BreakerMachine(Policy())
    fail(machine, 4)
    assert state(machine) is State.CLOSED
    fail(machine, 1, now=7.0)
    assert state(machine) is State.OPEN
    assert machine.opened_at == 7.0
    assert machine.take_transitions() == [(State.CLOSED, State.OPEN)]


def test_a_success_restarts_the_consecutive_failure_count() -> None:
    machine = BreakerMachine(Policy())
    fail(machine, 4)
    succeed(machine, 1)
    fail(machine, 4)
    assert state(machine) is State.CLOSED
    assert machine.failures == 4


def test_open_circuit_refuses_calls_until_the_recovery_timeout() -> None:
    machine = BreakerMachine(Policy())
    fail(machine, 5, now=100.0)
    assert machine.admit(159.9) == 0
    assert machine.remaining(159.9) == pytest.approx(0.1)
    assert machine.rejected == 1
    assert machine.admit(160.0) != 0
    assert state(machine) is State.HALF_OPEN


def test_three_trial_successes_close_the_circuit() -> None:
    machine = BreakerMachine(Policy())
    fail(machine, 5)
    succeed(machine, 2, now=60.0)
    assert state(machine) is State.HALF_OPEN
    succeed(machine, 1, now=60.0)
    assert state(machine) is State.CLOSED
    assert machine.take_transitions()[-2:] == [
        (State.OPEN, State.HALF_OPEN),
        (State.HALF_OPEN, State.CLOSED),
    ]


def test_a_trial_failure_reopens_the_circuit_for_another_timeout() -> None:
    machine = BreakerMachine(Policy())
    fail(machine, 5)
    succeed(machine, 2, now=60.0)
    fail(machine, 1, now=61.0)
    assert state(machine) is State.OPEN
    assert machine.remaining(61.0) == 60.0


def test_half_open_admits_no_more_than_the_permitted_trials() -> None:
    machine = BreakerMachine(Policy(permitted_half_open_calls=4))
    fail(machine, 5)
    admitted = [machine.admit(60.0) for _ in range(6)]
    assert [bool(gen) for gen in admitted] == [True] * 4 + [False] * 2
    machine.release(admitted[0], 60.0)  # an outcome that counts neither way frees its permit
    assert machine.admit(60.0) != 0


def test_a_hung_trial_reopens_the_circuit_once_the_half_open_wait_is_over() -> None:
    machine = BreakerMachine(Policy())
    fail(machine, 5)
    hung, *others = (machine.admit(60.0) for _ in range(3))
    for gen in others:
        machine.record(gen, False, 0.0, 61.0)
    assert machine.admit(120.9) == 0
    assert state(machine) is State.HALF_OPEN
    assert machine.admit(121.0) == 0
    assert state(machine) is State.OPEN
    machine.record(hung, False, 0.0, 122.0)  # too late: it belongs to the half-open that ended
    assert machine.remaining(122.0) == 59.0


def test_an_idle_half_open_circuit_waits_for_traffic() -> None:
    machine = BreakerMachine(Policy())
    fail(machine, 5)
    machine.admit(60.0)
    machine.advance(1e6)
    assert state(machine) is State.HALF_OPEN


def test_an_infinite_half_open_wait_waits_for_every_trial() -> None:
    machine = BreakerMachine(Policy(half_open_max_wait=math.inf))
    fail(machine, 5)
    for _ in range(3):
        machine.admit(60.0)
    machine.advance(1e9)
    assert state(machine) is State.HALF_OPEN


def test_an_outcome_admitted_before_a_state_change_is_ignored() -> None:
    machine = BreakerMachine(Policy())
    stale = machine.admit(0.0)
    fail(machine, 5)
    machine.admit(60.0)
    machine.record(stale, False, 0.0, 60.0)
    assert state(machine) is State.HALF_OPEN
    assert machine.successes == 0


def test_probe_results_without_admission_count_as_trials() -> None:
    machine = BreakerMachine(Policy())
    fail(machine, 5)
    machine.advance(60.0)
    for _ in range(3):
        machine.record(0, False, 0.0, 60.0)
    assert state(machine) is State.CLOSED


def test_force_open_ignores_the_recovery_timeout_until_reset() -> None:
    machine = BreakerMachine(Policy())
    machine.force_open(0.0)
    assert machine.admit(1e9) == 0
    assert machine.remaining(1e9) == math.inf
    machine.reset(1e9)
    assert state(machine) is State.CLOSED
    assert not machine.forced


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"failure_threshold": 0}, "failure_threshold must be at least 1"),
        ({"recovery_timeout": -1.0}, "recovery_timeout"),
        ({"permitted_half_open_calls": 2}, "could never close"),
        ({"half_open_max_wait": 0}, "half_open_max_wait"),
    ],
)
def test_impossible_policies_are_refused_naming_the_setting(
    kwargs: dict[str, int | float], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        Policy(**kwargs)  # type: ignore[arg-type]


def test_impossible_windows_are_refused_naming_the_setting() -> None:
    with pytest.raises(ValueError, match="failure_rate_threshold"):
        SlidingWindow(failure_rate_threshold=0)
    with pytest.raises(ValueError, match="size"):
        SlidingWindow(size=0)


def window_policy(**changes: Any) -> Policy:
    window = replace(
        SlidingWindow(size=10, minimum_calls=5, failure_rate_threshold=50.0), **changes
    )
    return Policy(window=window, permitted_half_open_calls=4)


def test_count_window_waits_for_the_minimum_number_of_calls() -> None:
    machine = BreakerMachine(window_policy())
    fail(machine, 4)
    assert state(machine) is State.CLOSED
    fail(machine, 1)
    assert state(machine) is State.OPEN


def test_count_window_opens_when_the_failure_rate_reaches_the_threshold() -> None:
    machine = BreakerMachine(window_policy())
    succeed(machine, 6)
    fail(machine, 5)  # the window holds the last 10 calls: 5 successes, 5 failures = 50 %
    assert state(machine) is State.OPEN


def test_count_window_forgets_calls_beyond_its_size() -> None:
    machine = BreakerMachine(window_policy())
    succeed(machine, 6)
    fail(machine, 4)
    assert machine.snapshot("db", 0.0).failure_rate == 40.0
    succeed(machine, 10)  # the four failures fall out of the window
    snapshot = machine.snapshot("db", 0.0)
    assert (snapshot.window_calls, snapshot.failure_rate) == (10, 0.0)


def test_slow_calls_open_the_circuit_at_the_slow_call_rate() -> None:
    machine = BreakerMachine(window_policy(slow_call_duration=2.0, slow_call_rate_threshold=60.0))
    succeed(machine, 4, duration=0.1)
    succeed(machine, 5, duration=2.0)
    assert state(machine) is State.CLOSED  # 5 of 9 slow: 55 %
    succeed(machine, 1, duration=3.0)
    assert state(machine) is State.OPEN


def test_time_window_counts_only_the_last_seconds() -> None:
    machine = BreakerMachine(window_policy(kind=WindowKind.TIME, size=10, minimum_calls=3))
    fail(machine, 2, now=0.5)
    succeed(machine, 2, now=12.0)  # the failures at 0.5 s have left the 10 s window
    fail(machine, 1, now=12.0)
    assert state(machine) is State.CLOSED
    fail(machine, 1, now=15.0)
    assert state(machine) is State.OPEN


def test_window_half_open_verdict_waits_for_every_permitted_trial() -> None:
    machine = BreakerMachine(window_policy())
    fail(machine, 5)
    fail(machine, 1, now=60.0)
    succeed(machine, 2, now=60.0)
    assert state(machine) is State.HALF_OPEN
    succeed(machine, 1, now=60.0)  # 1 failure in 4 trials is below 50 %
    assert state(machine) is State.CLOSED


def test_window_half_open_reopens_when_trials_keep_failing() -> None:
    machine = BreakerMachine(window_policy())
    fail(machine, 5)
    fail(machine, 2, now=60.0)
    succeed(machine, 2, now=60.0)
    assert state(machine) is State.OPEN


def test_count_window_totals_follow_evictions() -> None:
    window = CountWindow(3)
    for failed, slow in [(True, True), (False, True), (True, False), (False, False)]:
        window.record(failed, slow, 0.0)
    assert (window.calls, window.failures, window.slow) == (3, 1, 1)


def test_time_window_evicts_whole_seconds_and_jumps_past_long_gaps() -> None:
    window = TimeWindow(3)
    window.record(True, False, 10.2)
    window.record(False, True, 11.9)
    window.expire(12.99)
    assert (window.calls, window.failures, window.slow) == (2, 1, 1)
    window.expire(13.0)
    assert (window.calls, window.failures, window.slow) == (1, 0, 1)
    window.expire(100.0)
    assert window.calls == 0
