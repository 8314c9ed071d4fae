"""What the process supervisor reports: each process's state and status, and the events of
its automatic restarts, which the agent loop sends to the hub as healing attempts."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from bounceback.api.agent_wire import HealingAttempt, HealingOutcome

ACTION = "supervisor"  # HealingAttempt.action of automatic restarts (no agent.toml action)


class ProcessState(StrEnum):
    STARTING = "starting"
    RUNNING = "running"
    BACKOFF = "backoff"  # exited; waiting out the restart delay
    STOPPED = "stopped"  # not started yet, or stopped on request
    GAVE_UP = "gave_up"  # the restart-loop limit was hit; only `restart` starts it again


class UnknownProcess(LookupError):
    """The name is not a ``[[processes]]`` entry of agent.toml."""


@dataclass(frozen=True, slots=True)
class ProcessStatus:
    name: str
    state: ProcessState
    pid: int | None
    restarts: int  # automatic restarts since the agent started
    uptime_seconds: float | None
    last_exit_code: int | None  # negative: killed by that signal


@dataclass(frozen=True, slots=True)
class SupervisorEvent:
    """One automatic restart attempt (or the give-up), shaped like a HealingAttempt."""

    attempt_id: str  # shared by an attempt's started and finished events
    process: str
    outcome: HealingOutcome  # started, succeeded, failed or gave_up
    reason: str
    started_at: datetime
    finished_at: datetime | None = None
    before: dict[str, float] = field(default_factory=dict)
    after: dict[str, float] = field(default_factory=dict)
    escalate: bool = False

    def as_attempt(self) -> HealingAttempt:
        return HealingAttempt(
            attempt_id=self.attempt_id,
            action=ACTION,
            type="restart_process",
            target=self.process,
            trigger=f"supervisor:{self.process}",
            outcome=self.outcome,
            reason=self.reason,
            started_at=self.started_at,
            finished_at=self.finished_at,
            before=self.before,
            after=self.after,
            escalate=self.escalate,
        )
