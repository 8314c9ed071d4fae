"""How agent.toml declares a process the agent supervises itself (``[[processes]]``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field


class ProcessSpec(BaseModel):
    """A long-running program the agent starts, watches and restarts (never through a shell)."""

    # Validated inside AgentConfig: no validator of its own until one is asked for.
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
    command: list[str] = Field(min_length=1)  # argv; command[0] is an absolute path or on PATH
    cwd: Path | None = None
    env: dict[str, str] = Field(default_factory=dict)
    # Restart backoff: initial delay doubling up to the cap; reset after this much stable uptime.
    backoff_initial_seconds: float = Field(0.1, ge=0)
    backoff_max_seconds: float = Field(60, gt=0)
    stable_after_seconds: float = Field(60, gt=0)
    # Restart-loop limiter: this many restarts within the window → stop restarting, escalate.
    max_restarts: int = Field(5, ge=1)
    restart_window_seconds: float = Field(300, gt=0)
    stop_signal: str = Field("SIGTERM", pattern=r"^SIG[A-Z0-9]+$")
    stop_timeout_seconds: float = Field(10, gt=0)
