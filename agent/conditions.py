"""Monit-style debouncing: from one breached/not-breached observation per cycle to a status.

A check turns failing once ``times`` of the last ``within`` cycles breached its threshold ("for
N cycles" is N of the last N, i.e. N in a row; "X times within Y cycles" also catches flapping).
Until then a breaching cycle reads as pending. Once failing it stays failing until
``clear_cycles`` good cycles in a row; clearing forgets the history, so breaches from before a
recovery never count towards the next failure. A cycle whose check could not run (``None``)
neither counts nor breaks a streak: the reading says error and the debounce state waits.

Everything here is pure: a state and an observation in, a new state and a status out.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from bounceback.api.agent_wire import CheckStatus


@dataclass(frozen=True, slots=True)
class Rule:
    times: int = 1  # breaches needed …
    within: int = 1  # … among this many most recent cycles
    clear_cycles: int = 1  # good cycles in a row that clear a failing check

    def __post_init__(self) -> None:
        if not 1 <= self.times <= self.within:
            raise ValueError(f"need 1 <= times <= within, got {self.times} and {self.within}")
        if self.clear_cycles < 1:
            raise ValueError(f"clear_cycles must be at least 1, got {self.clear_cycles}")

    @classmethod
    def consecutive(cls, cycles: int, *, clear_cycles: int = 1) -> Rule:
        """``for N cycles``."""
        return cls(cycles, cycles, clear_cycles)

    @property
    def is_consecutive(self) -> bool:
        return self.times == self.within


@dataclass(frozen=True, slots=True)
class ConditionState:
    recent: tuple[bool, ...] = ()  # the last `within` observations, oldest first
    failing: bool = False
    good_streak: int = 0  # good cycles in a row while failing


def step(rule: Rule, state: ConditionState, breached: bool | None) -> ConditionState:
    """The state after one more cycle (``breached`` None: the check could not run)."""
    if breached is None:
        return state
    if state.failing:
        if breached:
            return replace(state, good_streak=0)
        if state.good_streak + 1 >= rule.clear_cycles:
            return ConditionState()
        return replace(state, good_streak=state.good_streak + 1)
    recent = (*state.recent, breached)[-rule.within :]
    if sum(recent) >= rule.times:
        return ConditionState(failing=True)
    return ConditionState(recent=recent)


def status_of(state: ConditionState, breached: bool | None) -> CheckStatus:
    """The status to report for the cycle that produced ``state`` from ``breached``."""
    if breached is None:
        return CheckStatus.ERROR
    if state.failing:
        return CheckStatus.FAILING
    return CheckStatus.PENDING if breached else CheckStatus.OK


def advance(
    rule: Rule, state: ConditionState, breached: bool | None
) -> tuple[ConditionState, CheckStatus]:
    """One cycle: the new state and the status to report for it."""
    new = step(rule, state, breached)
    return new, status_of(new, breached)


def replay(rule: Rule, observations: Iterable[bool | None]) -> list[CheckStatus]:
    """The status after each cycle of a whole history, starting from a clear state."""
    state = ConditionState()
    statuses = []
    for breached in observations:
        state, status = advance(rule, state, breached)
        statuses.append(status)
    return statuses


def still_breached(
    breached: bool | None, value: float | None, clear_below: float | None, *, failing: bool
) -> bool | None:
    """Hysteresis: while failing, a value that has not dropped below ``clear_below`` still
    counts as a breach, so a value hovering at the threshold cannot flap the check."""
    if not failing or breached is None or value is None or clear_below is None:
        return breached
    return breached or value >= clear_below


def progress(rule: Rule, state: ConditionState) -> str:
    """How far a pending check is from failing, or a failing one from clearing ("" otherwise)."""
    if state.failing:
        if rule.clear_cycles > 1:
            return f"clearing: {state.good_streak} of {rule.clear_cycles} cycles good"
        return ""
    if not state.recent or not state.recent[-1]:
        return ""
    if rule.is_consecutive:
        streak = len(state.recent) - _last_good(state.recent)
        return f"for {streak} of {rule.times} cycles"
    return f"{sum(state.recent)} of {rule.times} times within {rule.within} cycles"


def _last_good(recent: tuple[bool, ...]) -> int:
    """The index after the last good observation (0 when there is none)."""
    for index in range(len(recent) - 1, -1, -1):
        if not recent[index]:
            return index + 1
    return 0
