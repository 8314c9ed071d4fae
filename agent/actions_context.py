"""What an action executor may touch, passed in: subprocesses, HTTP, the supervisor, signals,
the clock and the dry-run flag. Tests hand in fakes through the same fields."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

import httpx

from bounceback.agent.subprocesses import Runner, RunResult, base_env, run_subprocess

__all__ = [
    "ActionContext",
    "ActionOutcome",
    "ProcessControl",
    "RunResult",
    "Runner",
    "run_subprocess",
]


class ProcessControl(Protocol):
    """The part of the agent's process supervisor the actions use."""

    async def restart(self, name: str) -> None: ...

    def pid(self, name: str) -> int | None: ...


@dataclass(frozen=True, slots=True)
class ActionOutcome:
    ok: bool
    message: str
    details: dict[str, float] = field(default_factory=dict)  # files_removed, bytes_freed, …
    # The action declined before changing anything (e.g. systemd already gave up on the unit):
    # the attempt is reported as skipped, not failed, and nothing is rolled back.
    refused: bool = False


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class ActionContext:
    runner: Runner = run_subprocess
    http: httpx.AsyncClient | None = None  # None: a client per call
    processes: ProcessControl | None = None  # None: no [[processes]] supervisor
    kill: Callable[[int, int], None] = os.kill
    now: Callable[[], datetime] = _utc_now  # aware UTC; file ages are measured against it
    dry_run: bool = False
    # The environment every command starts from; the agent's own (tokens included) is not passed.
    base_env: Mapping[str, str] = field(default_factory=base_env)
