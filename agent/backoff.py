"""When to restart a supervised process, as a decision over its recent history.

Two rules, both asked for in every supervisor's issue tracker (systemd#6129 and #43813,
Supervisor#1528, kubernetes#57291):

* **capped exponential backoff that resets after stable uptime** — each exit in a crash streak
  doubles the delay from ``initial_delay`` up to ``max_delay``; an exit after at least
  ``stable_after`` seconds of uptime starts a new streak at ``initial_delay`` (Kubernetes'
  CrashLoopBackOff semantics, which systemd's ``RestartSteps`` lacks);
* **a restart-loop limiter** — with ``max_restarts`` restarts already within the last ``window``
  seconds the process is given up on and the hub is asked to escalate, instead of looping
  (Monit's ``if 5 restarts within 5 cycles then unmonitor``, with an alert).

Nothing here reads a clock or sleeps: the supervisor passes the exit's uptime and ``now``
(monotonic seconds) to `decide` and keeps the returned history for the next exit.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from bounceback.agent.process_spec import ProcessSpec

_MAX_DOUBLINGS = 64  # 2**64 times any positive delay is past every cap; keeps the float finite


@dataclass(frozen=True, slots=True)
class RestartPolicy:
    initial_delay: float = 0.1
    max_delay: float = 60.0
    stable_after: float = 60.0
    max_restarts: int = 5
    window: float = 300.0

    @classmethod
    def from_spec(cls, spec: ProcessSpec) -> RestartPolicy:
        return cls(
            initial_delay=spec.backoff_initial_seconds,
            max_delay=spec.backoff_max_seconds,
            stable_after=spec.stable_after_seconds,
            max_restarts=spec.max_restarts,
            window=spec.restart_window_seconds,
        )

    def delay(self, streak: int) -> float:
        """The wait before the restart that follows ``streak`` earlier quick exits in a row."""
        return min(self.max_delay, self.initial_delay * 2.0 ** min(streak, _MAX_DOUBLINGS))


@dataclass(frozen=True, slots=True)
class RestartHistory:
    streak: int = 0  # quick exits in a row since the last stable run: the backoff exponent
    restarts: tuple[float, ...] = ()  # monotonic times of the restarts still in the window


class RestartVerdict(StrEnum):
    RESTART = "restart"
    GIVE_UP = "give_up"  # stop restarting this process and escalate to the hub


@dataclass(frozen=True, slots=True)
class RestartDecision:
    verdict: RestartVerdict
    delay: float  # seconds to wait before starting it again; 0 when giving up
    restarts_in_window: int  # this restart included
    history: RestartHistory  # what to pass to the next `decide`
    reason: str


def decide(
    policy: RestartPolicy, history: RestartHistory, *, uptime: float, now: float
) -> RestartDecision:
    """What to do about a process that just exited after ``uptime`` seconds (0 when it could
    not be started at all)."""
    stable = uptime >= policy.stable_after
    streak = 0 if stable else history.streak
    recent = tuple(at for at in history.restarts if now - at < policy.window)
    ran = f"exited after {uptime:.3g} s"
    if len(recent) >= policy.max_restarts:
        reason = (
            f"{ran}; already restarted {len(recent)} times within {policy.window:g} s "
            f"(max_restarts = {policy.max_restarts}): giving up, the hub decides"
        )
        return RestartDecision(
            RestartVerdict.GIVE_UP, 0.0, len(recent), RestartHistory(streak, recent), reason
        )
    delay = policy.delay(streak)
    why = "stable run, backoff reset" if stable and history.streak else f"streak {streak + 1}"
    reason = f"{ran}; restarting in {delay:g} s ({why})"
    # The restart happens after the delay; the window counts it from then.
    history = RestartHistory(streak + 1, (*recent, now + delay))
    return RestartDecision(RestartVerdict.RESTART, delay, len(recent) + 1, history, reason)
