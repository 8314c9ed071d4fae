"""The restart policy as a pure decision: backoff, its cap and reset, and the give-up rule."""

from __future__ import annotations

import pytest

from bounceback.agent.backoff import (
    RestartDecision,
    RestartHistory,
    RestartPolicy,
    RestartVerdict,
    decide,
)
from bounceback.agent.process_spec import ProcessSpec

POLICY = RestartPolicy(
    initial_delay=0.1, max_delay=1.0, stable_after=10.0, max_restarts=5, window=60.0
)


def exits(
    uptimes: list[float], *, every: float = 0.0, policy: RestartPolicy = POLICY
) -> list[RestartDecision]:
    """The decisions for a series of exits, ``every`` seconds apart after each restart."""
    history, now, decisions = RestartHistory(), 1000.0, []
    for uptime in uptimes:
        decision = decide(policy, history, uptime=uptime, now=now)
        decisions.append(decision)
        history = decision.history
        now += decision.delay + uptime + every
    return decisions


@pytest.mark.parametrize(
    ("streak", "delay"),
    [(0, 0.1), (1, 0.2), (2, 0.4), (3, 0.8), (4, 1.0), (10, 1.0), (10_000, 1.0)],
)
def test_delay_doubles_per_quick_exit_up_to_the_cap(streak: int, delay: float) -> None:
    assert POLICY.delay(streak) == pytest.approx(delay)


def test_zero_initial_delay_restarts_at_once_every_time() -> None:
    assert RestartPolicy(initial_delay=0.0).delay(50) == 0.0


def test_crash_loop_backs_off_exponentially_and_is_capped() -> None:
    policy = RestartPolicy(initial_delay=0.1, max_delay=0.5, max_restarts=10)
    delays = [d.delay for d in exits([0.0] * 6, policy=policy)]
    assert delays == pytest.approx([0.1, 0.2, 0.4, 0.5, 0.5, 0.5])


@pytest.mark.parametrize(
    ("uptimes", "delays"),
    [
        ([1.0, 1.0, 1.0], [0.1, 0.2, 0.4]),  # quick exits: a crash streak
        ([1.0, 1.0, 10.0], [0.1, 0.2, 0.1]),  # ran stable_after: the streak starts over
        ([10.0, 1.0, 1.0], [0.1, 0.2, 0.4]),  # a stable run only resets what came before it
        ([9.99, 9.99, 9.99], [0.1, 0.2, 0.4]),  # just short of stable counts as quick
        ([30.0, 30.0, 30.0], [0.1, 0.1, 0.1]),
    ],
)
def test_backoff_resets_after_stable_uptime(uptimes: list[float], delays: list[float]) -> None:
    assert [d.delay for d in exits(uptimes)] == pytest.approx(delays)


def test_always_dying_process_gets_exactly_max_restarts_then_gives_up() -> None:
    decisions = exits([0.0] * 7)
    verdicts = [d.verdict for d in decisions]
    assert verdicts == [RestartVerdict.RESTART] * 5 + [RestartVerdict.GIVE_UP] * 2
    assert [d.restarts_in_window for d in decisions] == [1, 2, 3, 4, 5, 5, 5]
    assert decisions[5].delay == 0.0
    assert "max_restarts = 5" in decisions[5].reason


def test_restarts_older_than_the_window_no_longer_count() -> None:
    # Exits 20 s apart: at most three restarts fall within any 60 s window.
    decisions = exits([0.0] * 20, every=20.0)
    assert {d.verdict for d in decisions} == {RestartVerdict.RESTART}
    assert max(d.restarts_in_window for d in decisions) <= 4


def test_stable_runs_still_count_toward_the_limiter() -> None:
    # Flapping slowly is still flapping: Monit's "X restarts within Y cycles".
    policy = RestartPolicy(stable_after=1.0, max_restarts=3, window=60.0)
    verdicts = [d.verdict for d in exits([2.0] * 4, policy=policy)]
    assert verdicts == [RestartVerdict.RESTART] * 3 + [RestartVerdict.GIVE_UP]


def test_the_window_counts_a_restart_from_when_it_happens() -> None:
    history = RestartHistory(streak=1, restarts=(100.0,))
    policy = RestartPolicy(initial_delay=5.0, max_restarts=10, window=60.0)
    decision = decide(policy, history, uptime=0.0, now=150.0)
    assert decision.history.restarts == (100.0, 160.0)  # now + the 10 s delay
    later = decide(policy, decision.history, uptime=0.0, now=161.0)
    assert later.history.restarts[0] == 160.0  # 100.0 fell out of the window


def test_reason_says_what_happens_next() -> None:
    first, second, _ = exits([0.5, 20.0, 0.5])
    assert first.reason == "exited after 0.5 s; restarting in 0.1 s (streak 1)"
    assert second.reason == "exited after 20 s; restarting in 0.1 s (stable run, backoff reset)"


def test_policy_comes_from_the_process_declaration() -> None:
    spec = ProcessSpec(
        name="web",
        command=["/bin/true"],
        backoff_initial_seconds=0.5,
        backoff_max_seconds=30,
        stable_after_seconds=120,
        max_restarts=3,
        restart_window_seconds=600,
    )
    assert RestartPolicy.from_spec(spec) == RestartPolicy(0.5, 30.0, 120.0, 3, 600.0)
