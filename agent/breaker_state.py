"""The circuit breaker's decisions: a state machine driven by outcomes and the time ``now``.

Nothing here locks, sleeps or reads a clock; `bounceback.agent.breaker` wraps it with a lock,
a clock and listeners. Every state change bumps a generation number. A call carries the
generation it was admitted under, so an outcome arriving after the state it was admitted in has
ended (a slow call admitted while closed that finishes once the circuit is half-open) is ignored
instead of being mistaken for a trial result.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from bounceback.agent.breaker_window import (
    CountWindow,
    SlidingWindow,
    TimeWindow,
    make_window,
    rate,
)

# The seed's CIRCUIT_BREAKER_* settings (its recovery timeout is 60000 ms).
FAILURE_THRESHOLD = 5
RECOVERY_TIMEOUT = 60.0
SUCCESS_THRESHOLD = 3
WINDOW_HALF_OPEN_CALLS = 10  # resilience4j's permittedNumberOfCallsInHalfOpenState


class State(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


# Enum member lookups cost ~80 ns each on CPython 3.11: the per-call paths use these names.
CLOSED, OPEN, HALF_OPEN = State.CLOSED, State.OPEN, State.HALF_OPEN
Transition = tuple[State, State]


@dataclass(frozen=True, slots=True)
class Policy:
    """When to open, how long to stay open and how to decide in half-open.

    Without a window the circuit opens after `failure_threshold` consecutive failures and closes
    after `success_threshold` consecutive half-open successes. With a window the rates replace
    both counts: the half-open verdict is the window's rates over the permitted trial calls.
    """

    failure_threshold: int = FAILURE_THRESHOLD
    recovery_timeout: float = RECOVERY_TIMEOUT  # seconds
    success_threshold: int = SUCCESS_THRESHOLD
    window: SlidingWindow | None = None
    permitted_half_open_calls: int | None = None  # None: success_threshold, or 10 with a window
    # With every permit taken, how long to wait for a trial to report before reopening, so a
    # trial call that hangs cannot hold the circuit half-open (resilience4j#903). None: the
    # recovery timeout; math.inf: wait for ever.
    half_open_max_wait: float | None = None

    def __post_init__(self) -> None:
        for field in ("failure_threshold", "success_threshold"):
            if getattr(self, field) < 1:
                raise ValueError(f"{field} must be at least 1, got {getattr(self, field)}")
        if not self.recovery_timeout >= 0:
            raise ValueError(
                f"recovery_timeout must be zero or more seconds, got {self.recovery_timeout}"
            )
        if not self.half_open_wait > 0:
            raise ValueError(
                f"half_open_max_wait must be more than zero seconds, got {self.half_open_max_wait}"
            )
        permits = self.half_open_permits
        if permits < 1:
            raise ValueError(f"permitted_half_open_calls must be at least 1, got {permits}")
        if self.window is None and permits < self.success_threshold:
            raise ValueError(
                f"permitted_half_open_calls ({permits}) must be at least success_threshold "
                f"({self.success_threshold}), or the circuit could never close"
            )

    @property
    def half_open_wait(self) -> float:
        if self.half_open_max_wait is None:
            return self.recovery_timeout or math.inf
        return self.half_open_max_wait

    @property
    def half_open_permits(self) -> int:
        if self.permitted_half_open_calls is not None:
            return self.permitted_half_open_calls
        return self.success_threshold if self.window is None else WINDOW_HALF_OPEN_CALLS


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A breaker at one moment, for reports and the hub."""

    name: str
    state: State
    forced: bool  # opened by force_open(): stays open until reset()
    consecutive_failures: int  # closed, without a window
    half_open_successes: int
    half_open_in_flight: int
    window_calls: int
    failure_rate: float | None  # percent over the window; None without one
    slow_call_rate: float | None
    opened_at: float | None  # clock seconds
    open_remaining: float  # seconds until a trial call is let through; inf when forced
    rejected_calls: int


class BreakerMachine:
    """State and counters of one breaker. Not thread-safe: the caller holds a lock to change it.

    `fast` and `closed` are read without the lock. Each is one attribute; a reader racing a
    state change gets the old generation at worst, and outcomes of that generation are ignored.
    """

    __slots__ = (
        "_judge_every_call",
        "_minimum_calls",
        "_trials",
        "_window",
        "closed",
        "failures",
        "fast",
        "forced",
        "gen",
        "in_flight",
        "opened_at",
        "permits",
        "policy",
        "progress_at",
        "rejected",
        "state",
        "successes",
        "transitions",
    )

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.state = CLOSED
        self.gen = 1
        # `fast` is the generation while closed with nothing to remember (no window, no failure
        # since the last success), else 0: a successful call then needs no bookkeeping at all.
        self.fast = 1 if policy.window is None else 0
        self.forced = False
        self.opened_at: float | None = None
        self.progress_at = 0.0  # in half-open: when a permit was last taken or a trial reported
        self.failures = self.successes = self.rejected = 0
        self.permits = self.in_flight = 0
        self._window = None if policy.window is None else make_window(policy.window)
        self._minimum_calls = 0 if policy.window is None else policy.window.effective_minimum_calls
        # Calls leaving a time window with the clock can raise its rates without any new failure.
        self._judge_every_call = isinstance(self._window, TimeWindow)
        self.closed = self.gen  # the generation while closed, else 0: admission without a lock
        self._trials = CountWindow(policy.half_open_permits)
        self.transitions: list[Transition] = []

    def take_transitions(self) -> Sequence[Transition]:
        taken = self.transitions
        if not taken:
            return ()  # never the live list: another thread may append to it once we unlock
        self.transitions = []
        return taken

    def advance(self, now: float) -> None:
        """Let time pass: open turns half-open, and a half-open stuck on its trials reopens."""
        state = self.state
        if state is OPEN:
            if (
                not self.forced
                and self.opened_at is not None
                and now - self.opened_at >= self.policy.recovery_timeout
            ):
                self._move(HALF_OPEN, now)
        elif (
            state is HALF_OPEN
            and not self.permits
            and now - self.progress_at >= self.policy.half_open_wait
        ):
            self._move(OPEN, now)

    def admit(self, now: float) -> int:
        """The generation a new call runs under, or 0 when the call must be refused."""
        self.advance(now)
        if self.state is CLOSED:
            return self.gen
        if self.state is HALF_OPEN and self.permits:
            self.permits -= 1
            self.in_flight += 1
            self.progress_at = now
            return self.gen
        self.rejected += 1
        return 0

    def record(self, gen: int, failed: bool, duration: float, now: float) -> None:
        """One outcome; `gen` 0 is an observation made without `admit` (an agent probe)."""
        state = self.state
        if state is OPEN:
            self.advance(now)
            state = self.state
            if state is OPEN:
                return
        if gen and gen != self.gen:
            return
        window, config = self._window, self.policy.window
        if state is HALF_OPEN:
            if self._use_trial_permit(gen):
                self.progress_at = now
                self._judge_trial(failed, duration, now)
        elif window is None or config is None:
            self._count_closed(failed, now)
        else:
            slow = duration >= config.slow_call_duration
            judged = window.calls >= self._minimum_calls
            window.record(failed, slow, now)
            # A fast success cannot raise the rates of a count window that was judged untripped.
            if (failed or slow or not judged or self._judge_every_call) and config.tripped(
                window, self._minimum_calls
            ):
                self._move(OPEN, now)

    def release(self, gen: int, now: float) -> None:
        """A call ended with an outcome that counts neither way: its trial permit returns."""
        self.advance(now)
        if (not gen or gen == self.gen) and self.state is HALF_OPEN and self.in_flight:
            self.in_flight -= 1
            self.permits += 1
            self.progress_at = now

    def reset(self, now: float) -> None:
        self._move(CLOSED, now)

    def force_open(self, now: float) -> None:
        self._move(OPEN, now)
        self.forced = True

    def remaining(self, now: float) -> float:
        if self.state is not OPEN:
            return 0.0
        if self.forced or self.opened_at is None:
            return math.inf
        return max(0.0, self.opened_at + self.policy.recovery_timeout - now)

    def snapshot(self, name: str, now: float) -> Snapshot:
        self.advance(now)
        window = self._window
        if window is not None:
            window.expire(now)
        return Snapshot(
            name=name,
            state=self.state,
            forced=self.forced,
            consecutive_failures=self.failures,
            half_open_successes=self.successes,
            half_open_in_flight=self.in_flight,
            window_calls=0 if window is None else window.calls,
            failure_rate=None if window is None else rate(window.failures, window.calls),
            slow_call_rate=None if window is None else rate(window.slow, window.calls),
            opened_at=self.opened_at,
            open_remaining=self.remaining(now),
            rejected_calls=self.rejected,
        )

    def _use_trial_permit(self, gen: int) -> bool:
        """Whether a half-open outcome counts: it must use up an admitted or a spare permit."""
        if self.in_flight:
            self.in_flight -= 1
            return True
        if not gen and self.permits:
            self.permits -= 1
            return True
        return False

    def _count_closed(self, failed: bool, now: float) -> None:
        if not failed:
            self.failures = 0
            self.fast = self.gen
            return
        self.failures += 1
        self.fast = 0
        if self.failures >= self.policy.failure_threshold:
            self._move(OPEN, now)

    def _judge_trial(self, failed: bool, duration: float, now: float) -> None:
        self.successes += not failed
        config = self.policy.window
        if config is None:
            if failed:
                self._move(OPEN, now)
            elif self.successes >= self.policy.success_threshold:
                self._move(CLOSED, now)
            return
        trials, permits = self._trials, self.policy.half_open_permits
        trials.record(failed, duration >= config.slow_call_duration, now)
        if trials.calls >= permits:
            self._move(OPEN if config.tripped(trials, permits) else CLOSED, now)

    def _move(self, new: State, now: float) -> None:
        old = self.state
        self.state = new
        self.gen += 1
        self.forced = False
        self.failures = self.successes = self.in_flight = self.permits = 0
        self.opened_at = now if new is OPEN else None
        if new is HALF_OPEN:
            self.permits = self.policy.half_open_permits
            self.progress_at = now
            self._trials.clear()
        if self._window is not None:
            self._window.clear()
        self.closed = self.gen if new is CLOSED else 0
        self.fast = self.closed if self._window is None else 0
        if old is not new:
            self.transitions.append((old, new))
