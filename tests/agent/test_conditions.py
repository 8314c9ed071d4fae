"""Monit-style debouncing as a pure function of the observation history."""

from __future__ import annotations

import pytest

from bounceback.agent.conditions import (
    ConditionState,
    Rule,
    advance,
    progress,
    replay,
    still_breached,
)
from bounceback.api.agent_wire import CheckStatus

OK = CheckStatus.OK
PENDING = CheckStatus.PENDING
FAILING = CheckStatus.FAILING
ERROR = CheckStatus.ERROR
T, F, E = True, False, None  # breached, clear, could not measure


@pytest.mark.parametrize(
    ("rule", "observations", "expected"),
    [
        pytest.param(Rule(), [F, T, F], [OK, FAILING, OK], id="one-cycle-fails-at-once"),
        pytest.param(
            Rule.consecutive(3),
            [T, T, T, T],
            [PENDING, PENDING, FAILING, FAILING],
            id="for-3-cycles-fails-on-the-third",
        ),
        pytest.param(
            Rule.consecutive(3),
            [T, T, F, T, T, F],
            [PENDING, PENDING, OK, PENDING, PENDING, OK],
            id="for-3-cycles-needs-them-in-a-row",
        ),
        pytest.param(
            Rule(3, 5),
            [T, F, T, F, T],
            [PENDING, OK, PENDING, OK, FAILING],
            id="3-times-within-5-catches-flapping",
        ),
        pytest.param(
            Rule(3, 5),
            [T, F, F, F, F, T, T],
            [PENDING, OK, OK, OK, OK, PENDING, PENDING],
            id="breaches-older-than-the-window-do-not-count",
        ),
        pytest.param(
            Rule(1, 1, clear_cycles=3),
            [T, F, F, T, F, F, F],
            [FAILING, FAILING, FAILING, FAILING, FAILING, FAILING, OK],
            id="clearing-needs-clear-cycles-good-in-a-row",
        ),
        pytest.param(
            Rule.consecutive(2),
            [T, T, F, T, T],
            [PENDING, FAILING, OK, PENDING, FAILING],
            id="clearing-forgets-the-breaches-before-it",
        ),
        pytest.param(
            Rule.consecutive(3),
            [T, E, T, E, T],
            [PENDING, ERROR, PENDING, ERROR, FAILING],
            id="errors-neither-count-nor-break-a-streak",
        ),
        pytest.param(
            Rule(1, 1, clear_cycles=2),
            [T, F, E, F],
            [FAILING, FAILING, ERROR, OK],
            id="an-error-while-clearing-keeps-the-good-streak",
        ),
        pytest.param(Rule(), [E, E], [ERROR, ERROR], id="errors-from-the-start"),
    ],
)
def test_replay_gives_monit_statuses(
    rule: Rule, observations: list[bool | None], expected: list[CheckStatus]
) -> None:
    assert replay(rule, observations) == expected


def test_window_keeps_only_the_last_within_cycles() -> None:
    state = ConditionState()
    for breached in [True, False, False, False, False, False]:
        state, _ = advance(Rule(2, 3), state, breached)
    assert state.recent == (False, False, False)


def test_state_survives_an_error_unchanged() -> None:
    state, _ = advance(Rule.consecutive(3), ConditionState(), True)
    after, status = advance(Rule.consecutive(3), state, None)
    assert after == state
    assert status is ERROR


@pytest.mark.parametrize(
    ("breached", "value", "clear_below", "failing", "expected"),
    [
        pytest.param(False, 82.0, 80.0, True, True, id="failing-in-the-band-stays-breached"),
        pytest.param(False, 79.9, 80.0, True, False, id="failing-below-the-clear-line-clears"),
        pytest.param(False, 80.0, 80.0, True, True, id="the-clear-line-itself-is-not-below"),
        pytest.param(False, 82.0, 80.0, False, False, id="no-hysteresis-before-failing"),
        pytest.param(True, 95.0, 80.0, True, True, id="a-breach-stays-a-breach"),
        pytest.param(None, None, 80.0, True, None, id="an-error-stays-an-error"),
        pytest.param(True, None, 80.0, True, True, id="no-value-keeps-the-observation"),
        pytest.param(False, 82.0, None, True, False, id="no-clear-line-keeps-the-observation"),
    ],
)
def test_hysteresis_holds_a_failing_check_until_below_the_clear_line(
    breached: bool | None,
    value: float | None,
    clear_below: float | None,
    failing: bool,
    expected: bool | None,
) -> None:
    assert still_breached(breached, value, clear_below, failing=failing) is expected


def _after(rule: Rule, observations: list[bool]) -> ConditionState:
    state = ConditionState()
    for breached in observations:
        state, _ = advance(rule, state, breached)
    return state


@pytest.mark.parametrize(
    ("rule", "observations", "expected"),
    [
        pytest.param(Rule.consecutive(3), [T, F, T, T], "for 2 of 3 cycles", id="consecutive"),
        pytest.param(Rule(3, 5), [T, F, T], "2 of 3 times within 5 cycles", id="x-within-y"),
        pytest.param(Rule(3, 5), [T, F], "", id="clear-this-cycle"),
        pytest.param(Rule(1, 1, 3), [T, F], "clearing: 1 of 3 cycles good", id="clearing"),
        pytest.param(Rule(), [T], "", id="failing-with-one-clear-cycle"),
    ],
)
def test_progress_says_how_far_from_failing_or_clearing(
    rule: Rule, observations: list[bool], expected: str
) -> None:
    assert progress(rule, _after(rule, observations)) == expected


@pytest.mark.parametrize(("times", "within", "clear_cycles"), [(0, 1, 1), (3, 2, 1), (1, 1, 0)])
def test_rule_refuses_impossible_counts(times: int, within: int, clear_cycles: int) -> None:
    with pytest.raises(ValueError, match=r"times|clear_cycles"):
        Rule(times, within, clear_cycles)
