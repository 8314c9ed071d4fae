"""Sliding windows for rate-based circuit breaking, resilience4j-style.

Both windows keep running totals and subtract what they evict, so recording a call and reading the
rates are O(1) whatever the window size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

_RECORDED = 1  # then bit 1: failed, bit 2: slow


class WindowKind(StrEnum):
    COUNT = "count"  # the last `size` calls
    TIME = "time"  # the calls of the last `size` seconds


@dataclass(frozen=True, slots=True)
class SlidingWindow:
    """Trip on the failure rate or the slow-call rate of recent calls (rates in percent).

    No rate is judged before `minimum_calls` calls are in the window (capped at `size` for a
    count window). A call lasting `slow_call_duration` seconds or more is slow, failed or not.
    """

    kind: WindowKind = WindowKind.COUNT
    size: int = 100
    minimum_calls: int = 100
    failure_rate_threshold: float = 50.0
    slow_call_duration: float = 60.0
    slow_call_rate_threshold: float = 100.0

    def __post_init__(self) -> None:
        if self.size < 1:
            raise ValueError(f"SlidingWindow.size must be at least 1, got {self.size}")
        if self.minimum_calls < 1:
            raise ValueError(
                f"SlidingWindow.minimum_calls must be at least 1, got {self.minimum_calls}"
            )
        for field in ("failure_rate_threshold", "slow_call_rate_threshold"):
            value = getattr(self, field)
            if not 0 < value <= 100:
                raise ValueError(f"SlidingWindow.{field} must be in (0, 100] percent, got {value}")
        if not self.slow_call_duration > 0:
            raise ValueError(
                f"SlidingWindow.slow_call_duration must be positive seconds, "
                f"got {self.slow_call_duration}"
            )

    @property
    def effective_minimum_calls(self) -> int:
        if self.kind is WindowKind.COUNT:
            return min(self.minimum_calls, self.size)
        return self.minimum_calls

    def tripped(self, window: Window, minimum_calls: int) -> bool:
        """Whether the window holds enough calls and either rate reaches its threshold."""
        calls = window.calls
        if calls < minimum_calls or calls == 0:
            return False
        return (
            window.failures * 100 >= self.failure_rate_threshold * calls
            or window.slow * 100 >= self.slow_call_rate_threshold * calls
        )


class Window(Protocol):
    calls: int
    failures: int
    slow: int

    def record(self, failed: bool, slow: bool, now: float) -> None: ...
    def expire(self, now: float) -> None: ...
    def clear(self) -> None: ...


def rate(part: int, calls: int) -> float:
    return 100.0 * part / calls if calls else 0.0


class CountWindow:
    """The outcomes of the last `size` calls, in a ring buffer of one byte per call."""

    __slots__ = ("_next", "_outcomes", "calls", "failures", "slow")

    def __init__(self, size: int) -> None:
        self._outcomes = bytearray(size)
        self._next = 0
        self.calls = self.failures = self.slow = 0

    def record(self, failed: bool, slow: bool, now: float) -> None:
        outcome = _RECORDED | failed << 1 | slow << 2
        outcomes, index = self._outcomes, self._next
        evicted = outcomes[index]
        if evicted != outcome:  # replacing a call by one just like it changes no total
            outcomes[index] = outcome
            self.calls += not evicted
            self.failures += failed - (evicted >> 1 & 1)
            self.slow += slow - (evicted >> 2)
        index += 1
        self._next = 0 if index == len(outcomes) else index

    def expire(self, now: float) -> None:
        """Count windows age by calls, not by time."""

    def clear(self) -> None:
        self._outcomes[:] = bytes(len(self._outcomes))
        self._next = 0
        self.calls = self.failures = self.slow = 0


class TimeWindow:
    """The calls of the last `size` whole seconds, in one bucket per second."""

    __slots__ = ("_calls", "_failures", "_head", "_slow", "calls", "failures", "slow")

    def __init__(self, size: int) -> None:
        self._calls = [0] * size
        self._failures = [0] * size
        self._slow = [0] * size
        self._head: int | None = None  # the newest second the buckets describe
        self.calls = self.failures = self.slow = 0

    def expire(self, now: float) -> None:
        second = math.floor(now)
        head = self._head
        if head is not None and second <= head:
            return
        self._head = second
        if head is None:
            return
        size = len(self._calls)
        if second - head >= size:
            self.clear()
            self._head = second
            return
        # Each new second reuses the bucket of the second that just left the window.
        for tick in range(head + 1, second + 1):
            index = tick % size
            self.calls -= self._calls[index]
            self.failures -= self._failures[index]
            self.slow -= self._slow[index]
            self._calls[index] = self._failures[index] = self._slow[index] = 0

    def record(self, failed: bool, slow: bool, now: float) -> None:
        self.expire(now)
        # A time older than the newest bucket (a clock stepping back) counts in the newest bucket.
        assert self._head is not None
        index = self._head % len(self._calls)
        self._calls[index] += 1
        self._failures[index] += failed
        self._slow[index] += slow
        self.calls += 1
        self.failures += failed
        self.slow += slow

    def clear(self) -> None:
        size = len(self._calls)
        self._calls[:] = [0] * size
        self._failures[:] = [0] * size
        self._slow[:] = [0] * size
        self._head = None
        self.calls = self.failures = self.slow = 0


def make_window(config: SlidingWindow) -> Window:
    if config.kind is WindowKind.TIME:
        return TimeWindow(config.size)
    return CountWindow(config.size)
