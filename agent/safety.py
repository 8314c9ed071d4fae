"""The limits every self-healing action passes before it runs, as decisions over recorded state.

Nothing here reads a clock, sleeps or acts: the healer passes ``now`` (aware UTC) and ``cycle``
(the check-cycle counter) in, asks `SafetyGate.decide`, and records what then happens. The
limits, in the order they are asked:

1. self-healing disabled (a dry run still shows what would happen);
2. the target was given up on by the restart-loop limiter (until `reset`);
3. the same action on the same target is still running or being verified;
4. retries: at most ``max_retries`` attempts per episode (an episode ends when its trigger clears);
5. per-action cooldown since the last attempt on that target;
6. restart-loop limiter: ``max_attempts_per_target`` attempts within ``attempts_window_cycles``
   check cycles → give up on the target and escalate, instead of looping (Monit's
   ``if 3 restarts within 5 cycles then unmonitor``, with an alert to the hub);
7. per-host rate limit: ``max_actions_per_hour`` attempts in any hour;
8. global concurrency: ``max_concurrent_actions`` executing at once.

After it ran, `verify` judges an action each cycle from its trigger check: ok within the
action's ``verify_cycles`` → succeeded, otherwise failed.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from bounceback.api.agent_wire import CheckStatus

Key = tuple[str, str]  # (action name, target)
RATE_WINDOW = timedelta(hours=1)


class SafetySpec(BaseModel):
    """The ``[safety]`` table of agent.toml."""

    # Validated inside AgentConfig: no validator of its own until one is asked for.
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    self_healing: bool = True  # the seed's SELF_HEALING_ENABLED; the hub can toggle it
    dry_run: bool = False  # log what each action would do, change nothing
    max_actions_per_hour: int = Field(20, ge=1)
    max_concurrent_actions: int = Field(2, ge=1)
    # Three tries per target within an hour of 60 s cycles, then a human decides.
    max_attempts_per_target: int = Field(3, ge=1)
    attempts_window_cycles: int = Field(60, ge=1)


class Verdict(StrEnum):
    ALLOW = "allow"
    SKIP = "skip"
    GIVE_UP = "give_up"  # the restart-loop limit: stop acting on the target, escalate


@dataclass(frozen=True, slots=True)
class Decision:
    verdict: Verdict
    code: str = ""  # disabled, gave_up, in_progress, retries, cooldown, restart_loop, rate, busy
    reason: str = ""


ALLOW = Decision(Verdict.ALLOW)


@dataclass(frozen=True, slots=True)
class ActionLimits:
    """The per-action part of the limits (from the action's declaration)."""

    cooldown: timedelta
    max_retries: int


@dataclass(frozen=True, slots=True)
class GateStatus:
    executing: int
    attempts_last_hour: int
    cooldowns: dict[str, float]  # "action@target" → seconds left
    episodes: dict[str, int]  # "action@target" → attempts in the current episode
    given_up: list[str]


@dataclass(frozen=True, slots=True)
class _Start:
    at: datetime
    cycle: int
    target: str | None  # None: not counted by the restart-loop limiter (rollbacks)


@dataclass
class SafetyGate:
    spec: SafetySpec
    _starts: deque[_Start] = field(default_factory=deque)
    _last_start: dict[Key, datetime] = field(default_factory=dict)
    _last_dry_run: dict[Key, datetime] = field(default_factory=dict)
    _episodes: dict[Key, int] = field(default_factory=dict)
    _busy: set[Key] = field(default_factory=set)  # executing or awaiting verification
    _executing: int = 0
    _given_up: set[str] = field(default_factory=set)

    def decide(
        self,
        key: Key,
        limits: ActionLimits,
        *,
        now: datetime,
        cycle: int,
        enabled: bool = True,
        dry_run: bool = False,
    ) -> Decision:
        action, target = key
        if not enabled and not dry_run:
            return _skip("disabled", "self-healing is disabled on this host")
        if target in self._given_up:
            return _skip("gave_up", f"gave up on {target} (restart-loop limit); reset required")
        if key in self._busy:
            return _skip("in_progress", f"{action} on {target} is still running or verifying")
        attempts = self._episodes.get(key, 0)
        if attempts >= limits.max_retries:
            return _skip(
                "retries",
                f"{action} used {attempts} of {limits.max_retries} attempts on {target} this "
                "episode; it waits for the condition to clear or a human",
            )
        last = [self._last_start.get(key)] + ([self._last_dry_run.get(key)] if dry_run else [])
        latest = max((at for at in last if at is not None), default=None)
        if latest is not None and now - latest < limits.cooldown:
            left = (limits.cooldown - (now - latest)).total_seconds()
            return _skip("cooldown", f"{action} is cooling down for {left:.0f} s more")
        window = self.spec.attempts_window_cycles
        recent = sum(1 for s in self._starts if s.target == target and cycle - s.cycle < window)
        if recent >= self.spec.max_attempts_per_target:
            return Decision(
                Verdict.GIVE_UP,
                "restart_loop",
                f"{recent} attempts on {target} within {window} cycles: stopping automatic "
                "action on it and escalating",
            )
        hourly = sum(1 for s in self._starts if now - s.at < RATE_WINDOW)
        if hourly >= self.spec.max_actions_per_hour:
            return _skip("rate", f"host rate limit: {hourly} actions in the last hour")
        if self._executing >= self.spec.max_concurrent_actions:
            return _skip("busy", f"{self._executing} actions already running on this host")
        return ALLOW

    def begin(self, key: Key) -> None:
        """The action is about to run (pre-check included): it holds a concurrency slot."""
        self._busy.add(key)
        self._executing += 1

    def commit(self, key: Key, *, now: datetime, cycle: int) -> None:
        """The action really runs: it counts for cooldown, retries and both rate limits."""
        self._record(now, cycle, key[1])
        self._last_start[key] = now
        self._episodes[key] = self._episodes.get(key, 0) + 1

    def commit_rollback(self, *, now: datetime, cycle: int) -> None:
        """A rollback runs unasked-for by the gate, but still counts for the host rate limit."""
        self._record(now, cycle, None)

    def note_dry_run(self, key: Key, *, now: datetime) -> None:
        """A dry run starts a cooldown of its own, so a failing check isn't reported each cycle."""
        self._last_dry_run[key] = now

    def finished(self) -> None:
        """An executor returned: its concurrency slot is free (the key stays busy until
        `release`, which waits for verification)."""
        self._executing = max(0, self._executing - 1)

    def release(self, key: Key) -> None:
        self._busy.discard(key)

    def end_episode(self, key: Key) -> None:
        self._episodes.pop(key, None)

    def episode_attempts(self, key: Key) -> int:
        return self._episodes.get(key, 0)

    def give_up(self, target: str) -> None:
        self._given_up.add(target)

    def reset(self, target: str | None = None) -> None:
        """A human's reset: act on ``target`` (or every target) again, with fresh counts."""
        targets = set(self._given_up) if target is None else {target}
        self._given_up -= targets
        self._starts = deque(s for s in self._starts if s.target not in targets)
        for key in [k for k in self._episodes if k[1] in targets]:
            del self._episodes[key]

    def status(self, *, now: datetime, cooldown: Callable[[str], timedelta]) -> GateStatus:
        """``cooldown`` gives an action's cooldown by name."""
        left = {
            f"{action}@{target}": (cooldown(action) - (now - at)).total_seconds()
            for (action, target), at in self._last_start.items()
            if now - at < cooldown(action)
        }
        return GateStatus(
            executing=self._executing,
            attempts_last_hour=sum(1 for s in self._starts if now - s.at < RATE_WINDOW),
            cooldowns=left,
            episodes={f"{a}@{t}": n for (a, t), n in self._episodes.items()},
            given_up=sorted(self._given_up),
        )

    def _record(self, now: datetime, cycle: int, target: str | None) -> None:
        self._starts.append(_Start(now, cycle, target))
        window = self.spec.attempts_window_cycles
        while self._starts and (
            now - self._starts[0].at >= RATE_WINDOW and cycle - self._starts[0].cycle >= window
        ):
            self._starts.popleft()


class Verification(StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    WAITING = "waiting"


def verify(status: CheckStatus | None, cycles_left: int) -> Verification:
    """One cycle's verdict on a started action, from its trigger check's status this cycle
    (None: not reported) and the cycles left in its verify window, this one included."""
    if status is CheckStatus.OK:
        return Verification.SUCCEEDED
    return Verification.FAILED if cycles_left <= 1 else Verification.WAITING


def _skip(code: str, reason: str) -> Decision:
    return Decision(Verdict.SKIP, code, reason)
