"""The agent ↔ hub protocol: reports up, commands down. Pydantic only (the agent imports this).

An agent sends batches of events, each with a per-agent sequence number starting at 1, to
``POST /api/agents/{agent_id}/reports``; the hub stores each ``(agent_id, seq)`` once and answers
only after the commit, with the commands waiting for that agent. ``GET
/api/agents/{agent_id}/commands?wait=25`` long-polls for commands. The agent runs only actions its
own agent.toml declares, and reports every command's outcome as a ``command_result`` event.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

AGENT_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"
MAX_EVENTS_PER_REPORT = 1000


class _Wire(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CheckStatus(StrEnum):
    OK = "ok"  # the condition is clear
    FAILING = "failing"  # the condition holds (after debouncing)
    PENDING = "pending"  # over the threshold, not yet for enough cycles
    ERROR = "error"  # the check itself could not run


class CheckReading(_Wire):
    check: str  # the check's name in agent.toml
    type: str  # memory, disk, http, …
    status: CheckStatus
    value: float | None = None
    unit: str = ""
    threshold: float | None = None
    target: str | None = None  # mount point, URL, unit name, …
    message: str = ""


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class BreakerStatus(_Wire):
    dependency: str  # its name in agent.toml
    kind: str  # database, external_api, internal_service, cache, file_storage
    state: BreakerState
    failures: int = 0
    successes: int = 0
    opened_at: datetime | None = None


class HealingOutcome(StrEnum):
    STARTED = "started"
    SUCCEEDED = "succeeded"  # ran and the condition cleared within the verify window
    FAILED = "failed"  # ran, failed or the condition did not clear (rolled back where declared)
    SKIPPED = "skipped"  # a safety limit said no (cooldown, retries, rate limit, concurrency)
    DRY_RUN = "dry_run"  # would have run
    GAVE_UP = "gave_up"  # the restart-loop limit: the agent stops acting on this target


class HealingAttempt(_Wire):
    attempt_id: str  # unique per agent
    action: str  # the action's name in agent.toml
    type: str  # restart_service, clean_temp, …
    target: str | None = None
    trigger: str  # "check:<name>", "command:<id>", "supervisor:<name>", "manual"
    outcome: HealingOutcome
    reason: str = ""
    started_at: datetime
    finished_at: datetime | None = None
    before: dict[str, float] = Field(default_factory=dict)
    after: dict[str, float] = Field(default_factory=dict)
    escalate: bool = False  # ask the hub to open an incident


class SampleEvent(_Wire):
    kind: Literal["sample"] = "sample"
    seq: int = Field(ge=1)
    at: datetime
    metrics: dict[str, float]  # e.g. cpu_percent, memory_percent, disk_percent:/var


class CheckEvent(_Wire):
    kind: Literal["check"] = "check"
    seq: int = Field(ge=1)
    at: datetime
    readings: list[CheckReading]


class BreakerEvent(_Wire):
    kind: Literal["breaker"] = "breaker"
    seq: int = Field(ge=1)
    at: datetime
    previous: BreakerState
    status: BreakerStatus


class HealingEvent(_Wire):
    kind: Literal["healing"] = "healing"
    seq: int = Field(ge=1)
    at: datetime
    attempt: HealingAttempt


class CommandResultEvent(_Wire):
    kind: Literal["command_result"] = "command_result"
    seq: int = Field(ge=1)
    at: datetime
    command_id: int
    outcome: Literal["done", "refused", "failed"]
    message: str = ""


class LossEvent(_Wire):
    """The spool bound was hit: ``dropped`` older events were lost (never silently)."""

    kind: Literal["loss"] = "loss"
    seq: int = Field(ge=1)
    at: datetime
    dropped: int = Field(ge=1)


AgentEvent = Annotated[
    SampleEvent | CheckEvent | BreakerEvent | HealingEvent | CommandResultEvent | LossEvent,
    Field(discriminator="kind"),
]


class AgentReport(_Wire):
    hostname: str = Field(min_length=1, max_length=255)
    version: str = Field(max_length=32)
    interval_seconds: float = Field(gt=0)
    self_healing_enabled: bool
    dry_run: bool = False
    actions: list[str] = Field(default_factory=list, max_length=500)  # declared action names
    breakers: list[BreakerStatus] = Field(default_factory=list, max_length=500)  # current states
    events: list[AgentEvent] = Field(max_length=MAX_EVENTS_PER_REPORT)


class CommandKind(StrEnum):
    RUN_ACTION = "run_action"
    TEST_ACTION = "test_action"  # a dry run of a declared action
    RESET_BREAKER = "reset_breaker"
    FORCE_OPEN_BREAKER = "force_open_breaker"
    ENABLE_SELF_HEALING = "enable_self_healing"
    DISABLE_SELF_HEALING = "disable_self_healing"


class AgentCommand(_Wire):
    id: int
    kind: CommandKind
    target: str | None = None  # action name or dependency name
    params: dict[str, Any] = Field(default_factory=dict)
    issued_by: str
    issued_at: datetime


class ReportAck(_Wire):
    accepted: int  # events stored now
    duplicates: int  # events the hub already had (a replay)
    last_seq: int  # the highest seq the hub holds for this agent
    commands: list[AgentCommand]
